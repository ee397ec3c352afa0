import {
  type BackoffOptions,
  backoffDelay,
  type LogEntry,
  TransportBase,
  type TransportCapabilities,
  TransportError,
} from '@backplane/core';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { connect, type NodeConnectionOptions } from '@nats-io/transport-node';
import { JetStreamLog, type NatsDurableOptions } from './jetstream-log.js';
import { channelToSubject, validateSubjectRoot } from './subjects.js';

export interface NatsTransportOptions {
  /**
   * Server URL(s), e.g. `nats://127.0.0.1:4222` or `['nats://a:4222', 'nats://b:4222']`.
   * @default 'nats://127.0.0.1:4222'
   */
  servers?: string | string[];
  /** One server URL; an alias of `servers` for symmetry with the other drivers (`servers` wins). */
  url?: string;
  /** nats.js connection options (auth, TLS, name, …); reconnection is always unlimited. */
  options?: NodeConnectionOptions;
  /** A connection the app owns: used as is, never closed by backplane. */
  connection?: NatsConnection;
  /**
   * First segment of every subject backplane uses (a prefix per app is core's `prefix`; this one only
   * keeps backplane's subjects apart from the app's own).
   * @default 'bp'
   */
  subjectRoot?: string;
  /**
   * How long the first `connect()` may take, retries included, in ms; then it rejects with `TransportError`.
   * @default 10_000
   */
  connectTimeout?: number;
  /** Delays between first-connect attempts. @default { initialDelay: 100, maxDelay: 2_000 } */
  retry?: BackoffOptions;
  /**
   * Keep a bounded log per channel in a JetStream stream (needs `nats-server -js`), so servers can replay
   * what they missed; see {@link NatsDurableOptions}. @default off
   */
  durable?: NatsDurableOptions;
}

/**
 * The NATS driver (nats.js v3): one connection, one subscription per live channel, channels mapped to
 * subjects injectively (see `channelToSubject`), unlimited reconnects with nats.js's own resubscription.
 * Publishes fail fast while disconnected (core's outbox decides what to keep). NATS core does not report
 * receivers, so `receiverCount` is false: a client result to a server that died waits for its signal.
 */
export class NatsTransport extends TransportBase {
  readonly name = 'nats';
  readonly capabilities: TransportCapabilities;
  readonly #options: NatsTransportOptions;
  readonly #root: string;
  readonly #subscriptions = new Map<string, Subscription>();
  readonly #log: JetStreamLog | undefined;
  /** Durable publishes waiting for the stream's acknowledgement: failed at once if the link drops. */
  readonly #pendingAcks = new Set<(error: Error) => void>();
  #nc: NatsConnection | undefined;
  #up = false;
  #stopWatching: (() => void) | undefined;

  constructor(options: NatsTransportOptions = {}) {
    super();
    this.#options = options;
    this.#root = options.subjectRoot ?? 'bp';
    validateSubjectRoot(this.#root);
    this.#log = options.durable ? new JetStreamLog(this.#root, options.durable) : undefined;
    this.capabilities = {
      receiverCount: false,
      durable: this.#log !== undefined,
      perChannelSubscriptions: true,
      sharded: false,
    };
  }

  get #servers(): string | string[] {
    return this.#options.servers ?? this.#options.url ?? 'nats://127.0.0.1:4222';
  }

  protected async doConnect(): Promise<void> {
    const owned = this.#options.connection;
    if (owned?.isClosed()) throw new TransportError('The NATS connection passed as `connection` is closed.');
    const nc = owned ?? (await this.#connect());
    if (this.#log) {
      try {
        await this.#log.ensure(nc);
      } catch (error) {
        if (!owned) await nc.close().catch(() => {});
        throw error;
      }
    }
    this.#nc = nc;
    this.#up = true;
    this.setState({ type: 'connected' });
    void this.#watch(nc);
  }

  protected async doClose(): Promise<void> {
    const nc = this.#nc;
    this.#nc = undefined;
    this.#stopWatching?.();
    for (const sub of this.#subscriptions.values()) sub.unsubscribe();
    this.#subscriptions.clear();
    if (!nc) return;
    // Deliver what was published last (a goodbye heartbeat, say) before letting go.
    await Promise.race([nc.flush(), new Promise((resolve) => setTimeout(resolve, 1_000))]).catch(() => {});
    if (!this.#options.connection) await nc.close().catch(() => {});
  }

  protected async doPublish(channel: string, payload: Uint8Array): Promise<undefined> {
    const nc = this.#nc;
    if (!nc || !this.#up) throw new TransportError(`NATS is not connected; publish to '${channel}' refused.`);
    try {
      nc.publish(channelToSubject(this.#root, channel), payload);
    } catch (cause) {
      throw new TransportError(`NATS publish to '${channel}' failed.`, { cause });
    }
    return undefined;
  }

  /** Durable mode: stored in the channel's JetStream log, then republished live with its position. */
  async publishDurable(channel: string, payload: Uint8Array): Promise<undefined> {
    const log = this.#log;
    if (!log || !this.#nc || !this.#up)
      throw new TransportError(`NATS is not connected; durable publish to '${channel}' refused.`);
    let fail!: (error: Error) => void;
    const dropped = new Promise<never>((_, reject) => {
      fail = reject;
    });
    this.#pendingAcks.add(fail);
    try {
      // An acknowledgement lost with the connection would only time out (ackTimeout): give up at once, and
      // let core's outbox publish again (a second copy in the log is dropped by receivers as a duplicate).
      await Promise.race([log.append(channelToSubject(this.#root, channel), payload), dropped]);
    } catch (cause) {
      throw new TransportError(`NATS durable publish to '${channel}' failed.`, { cause });
    } finally {
      this.#pendingAcks.delete(fail);
    }
    return undefined;
  }

  /** Durable mode: the log of `channel` after `after` (exclusive); see {@link JetStreamLog.read}. */
  async readLog(
    channel: string,
    after: string,
    limit: number,
  ): Promise<{ entries: LogEntry[]; complete: boolean }> {
    try {
      return await this.#requireLog().read(channelToSubject(this.#root, channel), after, limit);
    } catch (cause) {
      throw new TransportError(`Reading the log of '${channel}' failed.`, { cause });
    }
  }

  /** Durable mode: the newest position of the log (any later entry of `channel` comes after it). */
  async logPosition(_channel: string): Promise<string> {
    try {
      return await this.#requireLog().position();
    } catch (cause) {
      throw new TransportError('Reading the JetStream log position failed.', { cause });
    }
  }

  #requireLog(): JetStreamLog {
    if (!this.#log || !this.#nc) throw new TransportError('Durable mode is not available.');
    return this.#log;
  }

  protected async doSubscribe(channel: string): Promise<void> {
    const nc = this.#nc;
    if (!nc) throw new TransportError('NATS transport is not connected.');
    const log = this.#log;
    const subscription = nc.subscribe(channelToSubject(this.#root, channel), {
      callback: log
        ? (error, message) => {
            if (!error) this.onMessage(channel, message.data, log.positionOf(message.headers));
          }
        : (error, message) => {
            if (!error) this.onMessage(channel, message.data);
          },
    });
    this.#subscriptions.set(channel, subscription);
    // The subscription is live once the server has processed it.
    if (this.#up) await nc.flush().catch(() => {});
  }

  protected async doUnsubscribe(channel: string): Promise<void> {
    this.#subscriptions.get(channel)?.unsubscribe();
    this.#subscriptions.delete(channel);
  }

  async #connect(): Promise<NatsConnection> {
    const o = this.#options;
    const timeout = o.connectTimeout ?? 10_000;
    const deadline = Date.now() + timeout;
    let lastError: unknown;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      try {
        return await connect({
          ...o.options,
          servers: this.#servers,
          maxReconnectAttempts: -1,
          reconnectTimeWait: o.options?.reconnectTimeWait ?? 250,
          timeout: Math.max(250, Math.min(2_000, deadline - Date.now())),
        });
      } catch (error) {
        lastError = error;
        const wait = Math.min(
          backoffDelay(attempt, o.retry ?? { initialDelay: 100, maxDelay: 2_000 }),
          deadline - Date.now(),
        );
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
    throw new TransportError(`Could not connect to NATS (${String(this.#servers)}) within ${timeout} ms.`, {
      cause: lastError,
    });
  }

  /** Turns the connection's status iterator into `state$`. */
  async #watch(nc: NatsConnection): Promise<void> {
    const statuses = nc.status();
    // nats.js returns a queued iterator; stopping it ends the loop when an app-owned connection outlives us.
    this.#stopWatching = () => (statuses as { stop?: () => void }).stop?.();
    try {
      for await (const status of statuses) {
        if (this.#nc !== nc) return;
        switch (status.type) {
          case 'disconnect':
          case 'reconnecting':
          case 'staleConnection':
            this.#up = false;
            for (const fail of this.#pendingAcks) fail(new Error(`NATS ${status.type} before the ack`));
            this.setState({ type: 'disconnected', error: new Error(`NATS ${status.type}`) });
            break;
          case 'reconnect':
            // A server that lost its store (memory storage, a new node) gets the stream back.
            if (this.#log) await this.#log.ensure(nc).catch(() => {});
            this.#up = true;
            this.setState({ type: 'connected' });
            break;
          case 'close':
            this.#up = false;
            if (!this.closed)
              this.setState({ type: 'disconnected', error: new Error('NATS connection closed') });
            return;
          default:
            break;
        }
      }
    } catch {
      // the iterator ends when the connection closes
    }
  }
}

/** Creates a NATS transport (see {@link NatsTransportOptions}). */
export function createNatsTransport(options?: NatsTransportOptions): NatsTransport {
  return new NatsTransport(options);
}
