import { BrokerError, InvalidArgumentError, type LogEntry } from '@backplane/core';
import {
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';

/** Durable mode on NATS: the JetStream stream that holds the log, and its bounds. */
export interface NatsDurableOptions {
  /**
   * The JetStream stream that holds the log (created or updated on connect). One per app.
   * @default '<subjectRoot>-log' with dots as dashes
   */
  stream?: string;
  /** Entries kept per channel (the stream's `max_msgs_per_subject`). @default 10_000 */
  maxLength?: number;
  /** Entries older than this are removed, in ms; 0 keeps them until `maxLength` pushes them out. @default 0 */
  maxAge?: number;
  /** Where the stream is stored. @default 'file' */
  storage?: 'file' | 'memory';
  /**
   * Stream replicas, 1 to 5. Automatic by default: min(3, servers in the cluster the connection sees, from
   * the server's INFO), lowered while the cluster cannot place that many (servers without JetStream), and an
   * existing stream with fewer replicas is scaled up (never down). A given number is applied as is.
   * @default min(3, cluster size)
   */
  replicas?: number;
  /**
   * How long a durable publish waits for the stream's acknowledgement, in ms; then it fails (core's outbox
   * retries it with the same message id, so the stream keeps one copy) and the driver reports `degraded`.
   * @default 5_000
   */
  ackTimeout?: number;
  /**
   * While the log does not acknowledge (`degraded`), how often the stream is checked for a leader, in ms;
   * the driver is `connected` again once it has one.
   * @default 1_000
   */
  recheckInterval?: number;
}

/** The most replicas JetStream allows. */
const MAX_REPLICAS = 5;
/** Replicas chosen automatically at most. */
const AUTO_REPLICAS = 3;
/** JetStream's answers when it cannot place a stream's replicas. */
export const PLACEMENT_ERROR = /no suitable peers|insufficient resources|not supported in non-clustered/i;

/** Header JetStream sets on a republished message: its sequence in the stream (the log position). */
const SEQUENCE_HEADER = 'Nats-Sequence';
const STREAM_HEADER = 'Nats-Stream';

/**
 * The durable log on JetStream. Durable publishes go to `{root}~log.{token}`, a subject space disjoint from
 * the live `{root}.{token}` (so the republish below cannot loop); the stream stores them and republishes
 * each one, once stored, to the live subject with its stream sequence in a header: live subscribers see
 * durable and plain messages on one subscription, and durable ones carry their position. Positions are
 * stream sequences (decimal strings); one sequence space for every channel, so a channel's positions
 * increase but are not contiguous.
 */
export class JetStreamLog {
  readonly stream: string;
  readonly #root: string;
  readonly #options: NatsDurableOptions;
  readonly #maxLength: number;
  /** Replicas of the stream as last created or updated. */
  #replicas = 0;
  #js: JetStreamClient | undefined;
  #jsm: JetStreamManager | undefined;

  constructor(root: string, options: NatsDurableOptions) {
    this.#root = root;
    this.#options = options;
    this.#maxLength = options.maxLength ?? 10_000;
    this.stream = options.stream ?? `${root.replaceAll('.', '-')}-log`;
    const { replicas } = options;
    if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS))
      throw new InvalidArgumentError(`durable.replicas must be an integer from 1 to 5 (got ${replicas}).`);
    if (!/^[^\s.*>/\\]+$/.test(this.stream))
      throw new BrokerError(`'${this.stream}' is not a valid JetStream stream name.`);
  }

  /** The log subject of a live subject `{root}.{token}`. */
  logSubject(liveSubject: string): string {
    return `${this.#root}~log${liveSubject.slice(this.#root.length)}`;
  }

  /** Replicas of the stream as last created or updated (0 before). */
  get replicas(): number {
    return this.#replicas;
  }

  /**
   * Creates the stream, or brings its settings up to date. Replicas: see {@link NatsDurableOptions.replicas}.
   */
  async ensure(nc: NatsConnection): Promise<void> {
    const timeout = this.#options.ackTimeout ?? 5_000;
    this.#jsm = await jetstreamManager(nc, { timeout });
    this.#js = jetstream(nc, { timeout });
    const auto = this.#options.replicas === undefined;
    for (let replicas = this.#options.replicas ?? Math.min(AUTO_REPLICAS, clusterSize(nc)); ; replicas--) {
      try {
        this.#replicas = await this.#apply(this.#config(replicas), auto);
        return;
      } catch (error) {
        if (!(auto && replicas > 1 && PLACEMENT_ERROR.test(String((error as Error).message)))) throw error;
      }
    }
  }

  #config(replicas: number): Partial<StreamConfig> & { name: string } {
    return {
      name: this.stream,
      subjects: [`${this.#root}~log.>`],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: this.#maxLength,
      max_age: (this.#options.maxAge ?? 0) * 1_000_000, // nanoseconds
      storage: this.#options.storage === 'memory' ? StorageType.Memory : StorageType.File,
      num_replicas: replicas,
      allow_direct: true,
      republish: { src: `${this.#root}~log.>`, dest: `${this.#root}.>` },
    };
  }

  /** Adds the stream, or updates it (automatic replicas never scale an existing stream down); its replicas. */
  async #apply(config: Partial<StreamConfig> & { name: string }, auto: boolean): Promise<number> {
    const jsm = this.#manager();
    try {
      return (await jsm.streams.add(config)).config.num_replicas;
    } catch (cause) {
      if (!/already in use/i.test(String((cause as Error).message))) {
        if (PLACEMENT_ERROR.test(String((cause as Error).message))) throw cause;
        throw new BrokerError(
          `Could not create the JetStream stream '${this.stream}' (is JetStream on? nats-server -js).`,
          { cause },
        );
      }
    }
    try {
      const existing = (await jsm.streams.info(this.stream)).config.num_replicas;
      const replicas = auto ? Math.max(existing, config.num_replicas ?? 1) : config.num_replicas;
      return (await jsm.streams.update(this.stream, { ...config, num_replicas: replicas })).config
        .num_replicas;
    } catch (updateError) {
      if (PLACEMENT_ERROR.test(String((updateError as Error).message))) throw updateError;
      throw new BrokerError(`Could not update the JetStream stream '${this.stream}'.`, {
        cause: updateError,
      });
    }
  }

  /**
   * Whether the stream can take appends now: it answers, and has a leader where it is replicated. Never
   * throws.
   */
  async writable(): Promise<boolean> {
    try {
      const info = await this.#manager().streams.info(this.stream);
      return info.config.num_replicas <= 1 || Boolean(info.cluster?.leader);
    } catch {
      return false;
    }
  }

  /**
   * Appends to the log; the stream republishes the message to the live subject once stored. `key` becomes
   * the JetStream message id (`Nats-Msg-Id`): a second append with the same id within the stream's duplicate
   * window (2 minutes by default) is acknowledged without being stored or republished again.
   */
  async append(liveSubject: string, payload: Uint8Array, key?: string): Promise<void> {
    await this.#client().publish(this.logSubject(liveSubject), payload, key ? { msgID: key } : undefined);
  }

  /** The position a republished message carries, if it comes from this log. */
  positionOf(headers: { get(name: string): string } | undefined): string | undefined {
    if (!headers || headers.get(STREAM_HEADER) !== this.stream) return undefined;
    return headers.get(SEQUENCE_HEADER) || undefined;
  }

  /** The newest position of the whole log: every later entry of any channel comes after it. */
  async position(): Promise<string> {
    const info = await this.#manager().streams.info(this.stream);
    return String(info.state.last_seq);
  }

  /** Entries of one channel after `after` (exclusive), oldest first, at most `limit`. */
  async read(
    liveSubject: string,
    after: string,
    limit: number,
  ): Promise<{ entries: LogEntry[]; complete: boolean }> {
    const from = toSeq(after) + 1;
    const subject = this.logSubject(liveSubject);
    const info = await this.#manager().streams.info(this.stream, { subjects_filter: subject });
    const stored = info.state.subjects?.[subject] ?? 0;
    const entries: LogEntry[] = [];
    // A fetch for a subject with nothing at or after `from` would wait out its expiry: look first.
    if (stored > 0 && info.state.last_seq >= from && (await this.#newest(subject)) >= from) {
      const consumer = await this.#client().consumers.get(this.stream, {
        filter_subjects: subject,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: from,
      });
      try {
        const messages = await consumer.fetch({ max_messages: limit, expires: 2_000 });
        for await (const m of messages) {
          entries.push({ position: String(m.seq), payload: m.data });
          if (m.info.pending === 0 || entries.length >= limit) break;
        }
      } finally {
        await consumer.delete().catch(() => {});
      }
    }
    // Entries leave a channel's log oldest first, and only once it holds `maxLength` (or by age): if the
    // oldest one left starts after the gap, entries in between may be gone.
    const first = entries[0] ? Number(entries[0].position) : undefined;
    const trimmed =
      first !== undefined &&
      first > from &&
      (stored >= this.#maxLength || (this.#options.maxAge ?? 0) > 0) &&
      (await this.#oldest(subject)) > from;
    return { entries, complete: !trimmed };
  }

  async #newest(subject: string): Promise<number> {
    const newest = await this.#manager()
      .direct.getMessage(this.stream, { last_by_subj: subject })
      .catch(() => undefined);
    return newest?.seq ?? 0;
  }

  async #oldest(subject: string): Promise<number> {
    const oldest = await this.#manager()
      .direct.getMessage(this.stream, { seq: 1, next_by_subj: subject })
      .catch(() => undefined);
    return oldest?.seq ?? Number.POSITIVE_INFINITY;
  }

  #client(): JetStreamClient {
    if (!this.#js) throw new BrokerError('The JetStream log is not ready.');
    return this.#js;
  }

  #manager(): JetStreamManager {
    if (!this.#jsm) throw new BrokerError('The JetStream log is not ready.');
    return this.#jsm;
  }
}

/** A position as a stream sequence; core's "before everything" (`0-0`) is 0. */
function toSeq(position: string): number {
  const seq = Number(position);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : 0;
}

/**
 * Servers in the cluster the connection sees: the client URLs its server advertises (`connect_urls`, every
 * member's, its own included), 1 outside a cluster.
 */
export function clusterSize(nc: NatsConnection): number {
  const info = nc.info;
  if (!info?.cluster) return 1;
  return Math.max(1, new Set(info.connect_urls ?? []).size);
}
