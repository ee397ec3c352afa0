import { BrokerError, InvalidArgumentError } from '@backplane/core';
import { ExpiringRecords, readDeadline, stampDeadline } from '@backplane/core/internal';
import type { FollowedBatch, KafkaClient } from './kafka-client.js';

/** The session store on Kafka: the compacted topic that holds the records. */
export interface KafkaSessionStoreOptions {
  /**
   * The compacted topic that holds the session records (one partition, replicated like the main topic),
   * created on connect when missing. One per app.
   * @default '<topic>.sessions'
   */
  topic?: string;
  /**
   * The topic's `retention.ms` when it is created, in ms: a record not written again for this long is
   * removed with its segment (`cleanup.policy=compact,delete`), so the records of sessions nobody deleted do
   * not stay forever. A record's own TTL is kept inside it (an expired record reads as absent at once); a
   * write with a longer TTL than this is refused (`InvalidArgumentError`).
   * @default 3_600_000 (one hour)
   */
  ttl?: number;
  /**
   * How long `getRecord` may wait for this server's copy of the topic to catch up with the topic's end (as
   * of the call), in ms; then it fails with `BrokerError`.
   * @default 10_000
   */
  readTimeout?: number;
}

/** Expired records are swept out of the local copy once per this many records read. */
const SWEEP_EVERY_RECORDS = 1_024;

/**
 * The session store on a compacted topic. Every server follows the whole topic from its first offset and
 * keeps the live records in memory; a write is a record keyed by the store key (value: the deadline, then
 * the bytes), a delete a tombstone. A read first asks for the topic's end offsets and waits until this
 * server has read up to them, so it sees every write acknowledged before the read began, from any server.
 */
export class SessionTopic {
  readonly topic: string;
  readonly #client: KafkaClient;
  readonly #maxTtl: number;
  readonly #readTimeout: number;
  /** The live records read from the topic, each until its deadline. */
  readonly #records = new ExpiringRecords();
  /** Next offset to read, per partition. */
  readonly #next = new Map<number, bigint>();
  /** Reads waiting for the copy to reach an offset. */
  readonly #waiters = new Set<() => void>();
  #following = false;
  #closed = false;
  #sinceSweep = 0;

  constructor(client: KafkaClient, mainTopic: string, options: KafkaSessionStoreOptions = {}) {
    this.#client = client;
    this.topic = options.topic ?? `${mainTopic}.sessions`;
    this.#maxTtl = options.ttl ?? 3_600_000;
    this.#readTimeout = options.readTimeout ?? 10_000;
    if (!(this.#maxTtl > 0))
      throw new InvalidArgumentError(`sessions.ttl must be positive (got ${this.#maxTtl}).`);
  }

  /** Whether the client can keep a session store (the built-in ones can). */
  get supported(): boolean {
    return Boolean(this.#client.put && this.#client.follow && this.#client.endOffsets);
  }

  /** The topic's configuration when created. */
  get config(): Record<string, string> {
    return {
      'cleanup.policy': 'compact,delete',
      'retention.ms': String(this.#maxTtl),
      // Segments roll often enough for compaction and retention to work on what is not the newest.
      'segment.ms': String(Math.max(60_000, Math.min(this.#maxTtl, 3_600_000) / 4)),
    };
  }

  /** Starts following the topic (once). */
  async start(): Promise<void> {
    if (this.#following || !this.#client.follow) return;
    await this.#client.follow(this.topic, (batch) => this.#apply(batch));
    this.#following = true;
  }

  close(): void {
    this.#closed = true;
    for (const wake of this.#waiters) wake();
  }

  async put(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    if (ttlMs > this.#maxTtl)
      throw new InvalidArgumentError(
        `A session record's TTL (${ttlMs} ms) exceeds the topic's retention (sessions.ttl, ${this.#maxTtl} ms).`,
      );
    await this.#write('put', key, stampDeadline(value, ttlMs));
  }

  async delete(key: string): Promise<void> {
    await this.#write('delete', key, null);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const client = this.#ready();
    try {
      const ends = await client.endOffsets!(this.topic);
      await this.#caughtUp(ends.map((end) => BigInt(end)));
    } catch (cause) {
      throw new BrokerError(`Reading session records from Kafka topic '${this.topic}' failed.`, { cause });
    }
    return this.#records.get(key);
  }

  async #write(what: string, key: string, value: Uint8Array | null): Promise<void> {
    const client = this.#ready();
    try {
      await client.put!(this.topic, [{ key, value }]);
    } catch (cause) {
      throw new BrokerError(`Kafka session store ${what} to topic '${this.topic}' failed.`, { cause });
    }
  }

  #ready(): KafkaClient {
    if (!this.supported) throw new BrokerError('This Kafka client does not implement the session store.');
    if (this.#closed || !this.#following) throw new BrokerError('Kafka driver is not connected.');
    return this.#client;
  }

  /** Resolves once every partition has been read up to `ends`; rejects after the read timeout. */
  #caughtUp(ends: bigint[]): Promise<void> {
    const reached = () => ends.every((end, partition) => (this.#next.get(partition) ?? 0n) >= end);
    if (reached()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#closed) done(new Error('closed'));
        else if (reached()) done();
      };
      const done = (error?: Error) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(() => {
        const at = ends.map((end, p) => `${p}: ${this.#next.get(p) ?? 0n} of ${end}`).join(', ');
        done(new Error(`Not caught up with the topic within ${this.#readTimeout} ms (${at})`));
      }, this.#readTimeout);
      this.#waiters.add(check);
    });
  }

  #apply(batch: FollowedBatch): void {
    for (const { key, value } of batch.records) {
      const stamped = value === null ? undefined : readDeadline(value);
      if (!stamped) {
        this.#records.delete(key);
        continue;
      }
      // Stored as a copy: the client's buffer may be a view into a whole fetch response.
      this.#records.put(key, stamped.value, stamped.deadline);
    }
    const next = BigInt(batch.next);
    if (next > (this.#next.get(batch.partition) ?? 0n)) this.#next.set(batch.partition, next);
    this.#sinceSweep += batch.records.length;
    if (this.#sinceSweep >= SWEEP_EVERY_RECORDS) {
      this.#sinceSweep = 0;
      this.#records.sweep();
    }
    for (const check of [...this.#waiters]) check();
  }
}
