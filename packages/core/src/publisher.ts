import type { HubProtocol } from '@backplane/hub-protocol';
import { type InvocationMessage, MessageType } from '@backplane/hub-protocol';
import type { BackplaneSpans } from './backplane-tracing.js';
import type { Channels } from './channels.js';
import { ENVELOPE_VERSION, type EnvelopeBody, type InvocationBody } from './envelope.js';
import { encodeEnvelope } from './envelope-codec.js';
import { BackplaneError, BrokerError, InvalidArgumentError } from './errors.js';
import { ownerOfConnection } from './ids.js';
import type { BackplaneStats } from './stats.js';

/** Where published bytes go: the driver itself, or the resilience layer's outbox in front of it. */
export interface PublishSink {
  publish(channel: string, payload: Uint8Array): Promise<number | undefined>;
  /** Durable mode: publish and append to the channel's log; `key` as in `Driver.publishDurable`. */
  publishDurable?(channel: string, payload: Uint8Array, key?: string): Promise<number | undefined>;
  /**
   * A publish whose receiver count nobody needs (hub sends): resolves once accepted, that is issued in
   * order or taken by the outbox, which owns any later failure (see `PublishLink.accept`). Sinks without
   * it are waited on with `publish`.
   */
  accept?(channel: string, payload: Uint8Array, durable?: boolean, key?: string): Promise<void>;
}

/** Framed bytes of one invocation, per hub protocol name. */
export type Payloads = ReadonlyMap<string, Uint8Array>;

export interface PublisherIdentity {
  /** This server's id: envelope `origin` and inbox name. */
  readonly serverId: string;
  readonly epoch: string;
}

/**
 * The send side shared by the lifetime manager and the hub context: serializes an invocation once per hub
 * protocol, stamps the envelope header (origin, epoch, per-channel seq) and maps each kind of send onto
 * channels. Publishes are issued synchronously in call order, so FIFO per sender holds on every driver.
 */
export class Publisher {
  readonly #sink: PublishSink;
  readonly #channels: Channels;
  readonly #identity: PublisherIdentity;
  readonly #protocols: readonly HubProtocol[];
  readonly #stats: BackplaneStats;
  readonly #seq = new Map<string, number>();
  #batch = 0;
  /** Durable publishes so far: with the epoch, each one's idempotency key. */
  #durableCount = 0;
  /** Invocations also go to the durable log. */
  durable = false;
  /** Where tracing is on: a producer span around each published invocation (`backplane-tracing.ts`). */
  spans: BackplaneSpans | undefined;

  constructor(
    sink: PublishSink,
    channels: Channels,
    identity: PublisherIdentity,
    protocols: readonly HubProtocol[],
    stats: BackplaneStats,
  ) {
    this.#sink = sink;
    this.#channels = channels;
    this.#identity = identity;
    this.#protocols = protocols;
    this.#stats = stats;
  }

  /** Serializes an invocation for every configured hub protocol. */
  serialize(target: string, args: readonly unknown[], invocationId?: string): Payloads {
    if (typeof target !== 'string' || target === '')
      throw new InvalidArgumentError('Method name must be a non-empty string.');
    const message: InvocationMessage =
      invocationId === undefined
        ? { type: MessageType.Invocation, target, arguments: args }
        : { type: MessageType.Invocation, invocationId, target, arguments: args };
    const payloads = new Map<string, Uint8Array>();
    for (const protocol of this.#protocols) payloads.set(protocol.name, protocol.writeMessage(message));
    return payloads;
  }

  all(payloads: Payloads, exclude?: readonly string[]): Promise<void> {
    return this.#send(this.#channels.all, invocation(payloads, exclude));
  }

  group(name: string, payloads: Payloads, exclude?: readonly string[]): Promise<void> {
    return this.#send(this.#channels.group(name), invocation(payloads, exclude));
  }

  /** One publish per group, each naming every group and one batch id so receivers de-duplicate. */
  groups(names: readonly string[], payloads: Payloads): Promise<void> {
    const unique = [...new Set(names)];
    if (unique.length === 1) return this.group(unique[0]!, payloads);
    const batch = ++this.#batch;
    const body: InvocationBody = { kind: 'invocation', payloads, groups: unique, batch };
    return this.#done(unique.map((name) => this.#send(this.#channels.group(name), body)));
  }

  users(userIds: readonly string[], payloads: Payloads): Promise<void> {
    const body = invocation(payloads);
    const unique = new Set(userIds);
    if (unique.size === 1) return this.#send(this.#channels.user(userIds[0]!), body);
    return this.#done([...unique].map((id) => this.#send(this.#channels.user(id), body)));
  }

  /** One publish per owning server, naming its target connections. Ids naming no server are skipped. */
  connections(connectionIds: readonly string[], payloads: Payloads): Promise<void> {
    const byOwner = new Map<string, string[]>();
    for (const id of new Set(connectionIds)) {
      const owner = ownerOfConnection(id);
      if (owner === undefined) continue;
      const list = byOwner.get(owner);
      if (list) list.push(id);
      else byOwner.set(owner, [id]);
    }
    return this.#done(
      [...byOwner].map(([owner, ids]) =>
        this.#send(this.#channels.server(owner), { kind: 'invocation', payloads, connectionIds: ids }),
      ),
    );
  }

  /**
   * Stamps and publishes one envelope body. A durable publish gets an idempotency key, `{epoch}:{n}` (this
   * publisher's n-th durable publish; the epoch is random hex, unique per server instance), which every
   * retry of the same envelope carries. Resolves with the receiver count where the driver knows
   * it; rejects with a {@link BrokerError}.
   */
  publish(channel: string, body: EnvelopeBody, sink: PublishSink = this.#sink): Promise<number | undefined> {
    if (this.spans && body.kind === 'invocation')
      return this.spans.publish(channel, body, (traced) => this.#publish(channel, traced, sink));
    return this.#publish(channel, body, sink);
  }

  #publish(channel: string, body: EnvelopeBody, sink: PublishSink): Promise<number | undefined> {
    const { bytes, key } = this.#stamp(channel, body);
    const sent =
      key !== undefined && sink.publishDurable
        ? sink.publishDurable(channel, bytes, key)
        : sink.publish(channel, bytes);
    return sent.catch((cause: unknown) => this.#failed(channel, cause));
  }

  /**
   * Publishes a hub send: like {@link publish}, but done once the sink accepted it (see
   * `PublishSink.accept`), so a sender's next invocation need not wait a broker round trip.
   */
  #send(channel: string, body: EnvelopeBody): Promise<void> {
    if (this.spans && body.kind === 'invocation')
      return this.spans.publish(channel, body, (traced) => this.#accept(channel, traced));
    return this.#accept(channel, body);
  }

  #accept(channel: string, body: EnvelopeBody): Promise<void> {
    const sink = this.#sink;
    if (!sink.accept) return this.publish(channel, body).then(settled);
    const { bytes, key } = this.#stamp(channel, body);
    return sink
      .accept(channel, bytes, key !== undefined, key)
      .catch((cause: unknown) => this.#failed(channel, cause));
  }

  /**
   * The envelope's bytes, with the next seq of the channel; `key` is set when the body goes to the durable
   * log (durable mode, invocations only).
   */
  #stamp(channel: string, body: EnvelopeBody): { bytes: Uint8Array; key?: string } {
    const seq = (this.#seq.get(channel) ?? 0) + 1;
    this.#seq.set(channel, seq);
    const { serverId, epoch } = this.#identity;
    const bytes = encodeEnvelope({ v: ENVELOPE_VERSION, origin: serverId, epoch, seq, ...body });
    this.#stats.published++;
    this.#stats.publishedByKind[this.#channels.kind(channel)]++;
    if (!this.durable || body.kind !== 'invocation') return { bytes };
    return { bytes, key: `${epoch}:${++this.#durableCount}` };
  }

  #failed(channel: string, cause: unknown): never {
    this.#stats.publishFailures++;
    throw cause instanceof BackplaneError
      ? cause
      : new BrokerError(`Publishing to '${channel}' failed.`, { cause });
  }

  #done(publishes: Promise<unknown>[]): Promise<void> {
    return Promise.all(publishes).then(settled);
  }
}

/** Maps a publish's outcome to a send's (`void`), rejections untouched. */
function settled(): void {}

function invocation(payloads: Payloads, exclude?: readonly string[]): InvocationBody {
  return exclude?.length ? { kind: 'invocation', payloads, exclude } : { kind: 'invocation', payloads };
}
