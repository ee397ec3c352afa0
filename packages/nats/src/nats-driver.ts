import { isIP } from 'node:net';
import {
  type BackoffOptions,
  BrokerError,
  DriverBase,
  type DriverCapabilities,
  type DurableDriver,
  type LogEntry,
  type SessionStoreDriver,
} from '@backplane/core';
import { backoffDelay } from '@backplane/core/internal';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { connect, type NodeConnectionOptions } from '@nats-io/transport-node';
import { InterestBarrier } from './interest-barrier.js';
import { JetStreamLog, type NatsDurableOptions } from './jetstream-log.js';
import { hostOf, type ParsedServers, parseServers } from './server-urls.js';
import { type NatsSessionStoreOptions, SessionBucket } from './session-bucket.js';
import { channelToSubject, validateSubjectRoot } from './subjects.js';

/** Options of `NatsDriver`. */
export interface NatsDriverOptions {
  /**
   * Server URL(s): a string or an array, each string possibly a comma-separated list, e.g.
   * `nats://a:4222,nats://b:4222` or `nats://a:4222,b:4222` (an entry without a scheme takes the previous
   * one's). `nats://user:pass@host:port` and `nats://token@host:port` set the connection's credentials
   * (the same on every URL that has some); `tls://host:port` requires TLS. The servers of a cluster
   * advertise each other, so one reachable URL is enough to find the rest; listing several lets the first
   * connect succeed while one is down. See `parseServers`.
   * @default 'nats://127.0.0.1:4222'
   */
  servers?: string | string[];
  /** Server URL(s); an alias of `servers` for symmetry with the other drivers (`servers` wins). */
  url?: string;
  /**
   * nats.js connection options (auth, TLS, name, …), which win over credentials and TLS read from the URLs;
   * reconnection is always unlimited.
   */
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
   * How long the first `connect()` may take, retries included, in ms; then it rejects with `BrokerError`.
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
  /**
   * In a cluster, how long `subscribe()` waits at most for every other server to route the new channel to
   * this connection, in ms; `0` turns the wait off. A server confirms a subscription before the others
   * have heard of it, so without the wait a message published through another server right after a join
   * could miss the new member, unreported (see `InterestBarrier`). Needs the servers' advertised client
   * URLs (`connect_urls`); off with an app-owned `connection` (backplane does not know its credentials).
   * @default 2_000
   */
  propagationTimeout?: number;
  /**
   * The session store (`putRecord`, `getRecord`, `deleteRecord`): a JetStream key-value bucket (needs
   * `nats-server -js`), opened or created on first use; see {@link NatsSessionStoreOptions}.
   * @default { bucket: '<subjectRoot>-sessions', ttl: 3_600_000 }
   */
  sessions?: NatsSessionStoreOptions;
}

/**
 * The NATS driver (nats.js v3): one connection, one subscription per live channel, channels mapped to
 * subjects injectively (see `channelToSubject`), unlimited reconnects with nats.js's own resubscription
 * (to any server of the cluster: the one it was on may be gone for good). In a cluster, `subscribe()`
 * resolves once every other server routes the channel here (`InterestBarrier`). Publishes fail fast while
 * disconnected (core's outbox decides what to keep). NATS core does not report receivers, so
 * `receiverCount` is false: a client result to a server that died waits for its signal.
 *
 * Durable mode: a durable publish waits at most `durable.ackTimeout` for the stream's acknowledgement. When
 * one fails while the connection is up, the state becomes `degraded` ('durable log not acknowledging'),
 * which core treats as down (publishes wait in its outbox, bounded by age and reported when dropped), and
 * the stream is checked every `durable.recheckInterval` until it has a leader again: then `connected`.
 *
 * Session store: records live in a JetStream key-value bucket (`sessions.bucket`), each with its deadline
 * inside it; the bucket's age limit (`sessions.ttl`) removes the ones never deleted.
 */
export class NatsDriver
  extends DriverBase
  implements SessionStoreDriver, Pick<DurableDriver, 'comparePositions'>
{
  readonly name = 'nats';
  readonly capabilities: DriverCapabilities;
  readonly #options: NatsDriverOptions;
  readonly #root: string;
  /** The servers, credentials and TLS read from `servers`/`url`. */
  readonly #servers: ParsedServers;
  readonly #subscriptions = new Map<string, Subscription>();
  readonly #log: JetStreamLog | undefined;
  readonly #sessions: SessionBucket;
  /** Makes each new subscription cluster-wide before `subscribe()` resolves. */
  readonly #barrier: InterestBarrier;
  /** Durable publishes waiting for the stream's acknowledgement: failed at once if the link drops. */
  readonly #pendingAcks = new Set<(error: Error) => void>();
  #nc: NatsConnection | undefined;
  #up = false;
  /** Durable mode: the log stopped acknowledging; the recheck timer runs. */
  #recheck: NodeJS.Timeout | undefined;
  #stopWatching: (() => void) | undefined;

  constructor(options: NatsDriverOptions = {}) {
    super();
    this.#options = options;
    this.#root = options.subjectRoot ?? 'bp';
    validateSubjectRoot(this.#root);
    this.#servers = parseServers(options.servers ?? options.url ?? 'nats://127.0.0.1:4222');
    this.#log = options.durable ? new JetStreamLog(this.#root, options.durable) : undefined;
    this.#sessions = new SessionBucket(this.#root, options.sessions);
    this.#barrier = new InterestBarrier(
      (server, tlsName) => this.#connectProbe(server, tlsName),
      options.connection ? 0 : (options.propagationTimeout ?? 2_000),
    );
    this.capabilities = {
      receiverCount: false,
      durable: this.#log !== undefined,
      perChannelSubscriptions: true,
      sharded: false,
    };
  }

  protected async doConnect(): Promise<void> {
    const owned = this.#options.connection;
    if (owned?.isClosed()) throw new BrokerError('The NATS connection passed as `connection` is closed.');
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
    this.#sessions.attach(nc);
    this.#up = true;
    this.setState({ type: 'connected' });
    void this.#watch(nc);
  }

  protected async doClose(): Promise<void> {
    const nc = this.#nc;
    this.#nc = undefined;
    this.#sessions.attach(undefined);
    this.#stopRecheck();
    this.#stopWatching?.();
    for (const sub of this.#subscriptions.values()) sub.unsubscribe();
    this.#subscriptions.clear();
    await this.#barrier.close();
    if (!nc) return;
    // Deliver what was published last (a goodbye heartbeat, say) before letting go.
    await Promise.race([nc.flush(), new Promise((resolve) => setTimeout(resolve, 1_000))]).catch(() => {});
    if (!this.#options.connection) await nc.close().catch(() => {});
  }

  protected async doPublish(channel: string, payload: Uint8Array): Promise<undefined> {
    const nc = this.#nc;
    if (!nc || !this.#up) throw new BrokerError(`NATS is not connected; publish to '${channel}' refused.`);
    try {
      nc.publish(channelToSubject(this.#root, channel), payload);
    } catch (cause) {
      throw new BrokerError(`NATS publish to '${channel}' failed.`, { cause });
    }
    return undefined;
  }

  /**
   * Durable mode: stored in the channel's JetStream log, then republished live with its position. `key`
   * becomes the message id, so a retry of a publish whose ack was lost is not stored twice (within the
   * stream's duplicate window, 2 minutes by default). Waits at most `durable.ackTimeout`.
   */
  async publishDurable(channel: string, payload: Uint8Array, key?: string): Promise<undefined> {
    const log = this.#log;
    const nc = this.#nc;
    if (!log || !nc || !this.#up)
      throw new BrokerError(`NATS is not connected; durable publish to '${channel}' refused.`);
    let fail!: (error: Error) => void;
    const dropped = new Promise<never>((_, reject) => {
      fail = reject;
    });
    this.#pendingAcks.add(fail);
    try {
      // An acknowledgement lost with the connection would only time out (ackTimeout): give up at once, and
      // let core's outbox publish again (a second copy in the log is dropped by receivers as a duplicate).
      await Promise.race([log.append(channelToSubject(this.#root, channel), payload, key), dropped]);
      if (this.#recheck && this.#nc === nc && this.#up) this.#recovered();
    } catch (cause) {
      // Connected, yet no ack: the stream lost its leader, or its replicas are gone.
      if (this.#nc === nc && this.#up) this.#degrade(log);
      throw new BrokerError(`NATS durable publish to '${channel}' failed.`, { cause });
    } finally {
      this.#pendingAcks.delete(fail);
    }
    return undefined;
  }

  /** Durable mode: the log of `channel` after `after` (exclusive); see `JetStreamLog.read`. */
  async readLog(
    channel: string,
    after: string,
    limit: number,
  ): Promise<{ entries: LogEntry[]; complete: boolean }> {
    try {
      return await this.#requireLog().read(channelToSubject(this.#root, channel), after, limit);
    } catch (cause) {
      throw new BrokerError(`Reading the log of '${channel}' failed.`, { cause });
    }
  }

  /** Durable mode: the newest position of the log (any later entry of `channel` comes after it). */
  async logPosition(_channel: string): Promise<string> {
    try {
      return await this.#requireLog().position();
    } catch (cause) {
      throw new BrokerError('Reading the JetStream log position failed.', { cause });
    }
  }

  /**
   * Durable mode: the log is one stream for every channel, so positions (stream sequences) order entries
   * of any two channels.
   */
  comparePositions(_channelA: string, a: string, _channelB: string, b: string): number {
    const [x, y] = [toSequence(a), toSequence(b)];
    return x === y ? 0 : x < y ? -1 : 1;
  }

  /** Session store: writes the record (with its deadline) to the key-value bucket. */
  putRecord(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    return this.#sessions.put(key, value, ttlMs);
  }

  /** Session store: the record under `key`; `undefined` when absent, deleted, or past its deadline. */
  getRecord(key: string): Promise<Uint8Array | undefined> {
    return this.#sessions.get(key);
  }

  /** Session store: deletes the record under `key` from the key-value bucket. */
  deleteRecord(key: string): Promise<void> {
    return this.#sessions.delete(key);
  }

  /** The log does not acknowledge: report it, and check the stream until it has a leader again. */
  #degrade(log: JetStreamLog): void {
    if (this.#recheck) return;
    this.setState({ type: 'degraded', reason: 'durable log not acknowledging' });
    const interval = this.#options.durable?.recheckInterval ?? 1_000;
    const check = async () => {
      if (!this.#recheck) return;
      if (this.#up && (await log.writable())) {
        if (this.#recheck && this.#up) this.#recovered();
        return;
      }
      if (this.#recheck) this.#recheck = setTimeout(check, interval).unref();
    };
    this.#recheck = setTimeout(check, interval).unref();
  }

  #recovered(): void {
    this.#stopRecheck();
    this.setState({ type: 'connected' });
  }

  #stopRecheck(): void {
    clearTimeout(this.#recheck);
    this.#recheck = undefined;
  }

  #requireLog(): JetStreamLog {
    if (!this.#log || !this.#nc) throw new BrokerError('Durable mode is not available.');
    return this.#log;
  }

  protected async doSubscribe(channel: string): Promise<void> {
    const nc = this.#nc;
    if (!nc) throw new BrokerError('NATS driver is not connected.');
    const log = this.#log;
    const barrier = this.#barrier;
    const subject = channelToSubject(this.#root, channel);
    const subscription = nc.subscribe(subject, {
      callback: log
        ? (error, message) => {
            if (!error && !barrier.isMarker(message))
              this.onMessage(channel, message.data, log.positionOf(message.headers));
          }
        : (error, message) => {
            if (!error && !barrier.isMarker(message)) this.onMessage(channel, message.data);
          },
    });
    this.#subscriptions.set(channel, subscription);
    if (!this.#up) return;
    // The subscription is live on this server once it has processed it, and on the others of a cluster once
    // the barrier's markers came back through each of them.
    await nc.flush().catch(() => {});
    await barrier.wait(nc, subject);
  }

  protected async doUnsubscribe(channel: string): Promise<void> {
    this.#subscriptions.get(channel)?.unsubscribe();
    this.#subscriptions.delete(channel);
  }

  async #connect(): Promise<NatsConnection> {
    const o = this.#options;
    const { servers, user, pass, token, tls } = this.#servers;
    const timeout = o.connectTimeout ?? 10_000;
    const deadline = Date.now() + timeout;
    let lastError: unknown;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      try {
        return await connect({
          ...(user !== undefined && { user, pass }),
          ...(token !== undefined && { token }),
          ...(tls && { tls: {} }),
          ...o.options,
          servers,
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
    throw new BrokerError(`Could not connect to NATS (${servers.join(',')}) within ${timeout} ms.`, {
      cause: lastError,
    });
  }

  /**
   * A connection to one advertised server (`host:port`) of the cluster for the interest barrier: the
   * driver's credentials and TLS, that server only, reconnecting to it when it comes back. Advertised hosts
   * are mostly addresses: with TLS, the certificate is checked against `tlsName` (the host name the driver
   * dialled), as nats.js does for its own connection.
   */
  #connectProbe(server: string, tlsName: string | undefined): Promise<NatsConnection> {
    const o = this.#options;
    const { user, pass, token } = this.#servers;
    // nats.js hands these to `tls.connect`, `servername` included (its type leaves it out).
    const tls: (NonNullable<NodeConnectionOptions['tls']> & { servername?: string }) | undefined =
      this.#servers.tls || o.options?.tls ? { ...o.options?.tls } : undefined;
    if (tls && tlsName !== undefined && isIP(hostOf(server)) !== 0) tls.servername ??= tlsName;
    return connect({
      ...(user !== undefined && { user, pass }),
      ...(token !== undefined && { token }),
      ...o.options,
      ...(tls && { tls }),
      name: 'backplane-barrier',
      servers: [server],
      ignoreClusterUpdates: true,
      reconnect: true,
      waitOnFirstConnect: false,
      maxReconnectAttempts: -1,
      reconnectTimeWait: o.options?.reconnectTimeWait ?? 250,
      timeout: 2_000,
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
            this.#stopRecheck();
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
            this.#stopRecheck();
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

/** A log position as a stream sequence; core's "before everything" (`0-0`) and anything unreadable is 0. */
function toSequence(position: string): bigint {
  return /^\d+$/.test(position) ? BigInt(position) : 0n;
}

/** Creates a NATS driver (see {@link NatsDriverOptions}). */
export function createNatsDriver(options?: NatsDriverOptions): NatsDriver {
  return new NatsDriver(options);
}
