import { type LogEntry, TransportError } from '@backplane/core';
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
  /** Stream replicas (a clustered JetStream). @default 1 */
  replicas?: number;
  /** How long a durable publish waits for the stream's acknowledgement, in ms. @default 5_000 */
  ackTimeout?: number;
}

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
  #js: JetStreamClient | undefined;
  #jsm: JetStreamManager | undefined;

  constructor(root: string, options: NatsDurableOptions) {
    this.#root = root;
    this.#options = options;
    this.#maxLength = options.maxLength ?? 10_000;
    this.stream = options.stream ?? `${root.replaceAll('.', '-')}-log`;
    if (!/^[^\s.*>/\\]+$/.test(this.stream))
      throw new TransportError(`'${this.stream}' is not a valid JetStream stream name.`);
  }

  /** The log subject of a live subject `{root}.{token}`. */
  logSubject(liveSubject: string): string {
    return `${this.#root}~log${liveSubject.slice(this.#root.length)}`;
  }

  /** Creates the stream, or brings its settings up to date. */
  async ensure(nc: NatsConnection): Promise<void> {
    const timeout = this.#options.ackTimeout ?? 5_000;
    this.#jsm = await jetstreamManager(nc, { timeout });
    this.#js = jetstream(nc, { timeout });
    const config: Partial<StreamConfig> & { name: string } = {
      name: this.stream,
      subjects: [`${this.#root}~log.>`],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: this.#maxLength,
      max_age: (this.#options.maxAge ?? 0) * 1_000_000, // nanoseconds
      storage: this.#options.storage === 'memory' ? StorageType.Memory : StorageType.File,
      num_replicas: this.#options.replicas ?? 1,
      allow_direct: true,
      republish: { src: `${this.#root}~log.>`, dest: `${this.#root}.>` },
    };
    try {
      await this.#jsm.streams.add(config);
    } catch (cause) {
      if (!/already in use/i.test(String((cause as Error).message))) {
        throw new TransportError(
          `Could not create the JetStream stream '${this.stream}' (is JetStream on? nats-server -js).`,
          { cause },
        );
      }
      try {
        await this.#jsm.streams.update(this.stream, config);
      } catch (updateError) {
        throw new TransportError(`Could not update the JetStream stream '${this.stream}'.`, {
          cause: updateError,
        });
      }
    }
  }

  /** Appends to the log; the stream republishes the message to the live subject once stored. */
  async append(liveSubject: string, payload: Uint8Array): Promise<void> {
    await this.#client().publish(this.logSubject(liveSubject), payload);
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
    if (!this.#js) throw new TransportError('The JetStream log is not ready.');
    return this.#js;
  }

  #manager(): JetStreamManager {
    if (!this.#jsm) throw new TransportError('The JetStream log is not ready.');
    return this.#jsm;
  }
}

/** A position as a stream sequence; core's "before everything" (`0-0`) is 0. */
function toSeq(position: string): number {
  const seq = Number(position);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : 0;
}
