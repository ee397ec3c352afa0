import {
  Admin,
  type BaseOptions,
  type ConnectionOptions,
  ConnectionPool,
  Consumer,
  IS_CONTROL,
  Producer,
} from '@platformatic/kafka';
import { authenticationError, findInChain, KafkaAuthenticationError } from './errors.js';
import type {
  ConsumedRecord,
  FollowedBatch,
  KafkaClient,
  KafkaReadResult,
  KafkaRecord,
  KafkaSaslOptions,
  KafkaTlsOptions,
  StoreRecord,
  TopicDescription,
  TopicSpec,
} from './kafka-client.js';
import { isWellFormed, KEY_ENCODING_HEADER } from './record-key.js';

/** How a {@link PlatformaticClient} connects: brokers, acknowledgements, SASL and TLS. */
export interface PlatformaticClientOptions {
  /** Bootstrap brokers, `host:port` each. */
  readonly brokers: readonly string[];
  /**
   * Acknowledgement a produce waits for: `1` the partition leader, `-1` every in-sync replica (nothing lost
   * when a leader dies, one replication round trip slower).
   * @default 1
   */
  readonly acks?: 1 | -1;
  /**
   * Idempotent producer (needs `acks: -1`): the broker stores a batch once even when it is retried after a
   * lost answer. Costs one `InitProducerId` round trip before the first send; nothing per send.
   * @default true when `acks` is -1, else false
   */
  readonly idempotent?: boolean;
  /** SASL credentials; absent: none. */
  readonly sasl?: KafkaSaslOptions;
  /** TLS to the brokers; absent: plain TCP. */
  readonly tls?: KafkaTlsOptions;
  /** @default 'backplane' */
  readonly clientId?: string;
  /**
   * The longest a fetch waits on the broker when there is nothing to read, in ms; a record is returned as
   * soon as it is written (`minBytes: 1`), so this only bounds idle fetches (two a second per partition).
   * @default 500
   */
  readonly maxWaitMs?: number;
  /**
   * How long a request may go unanswered before it fails and the fetch is retried on a fresh connection,
   * in ms (a frozen broker keeps the TCP connection open).
   * @default 10_000
   */
  readonly requestTimeoutMs?: number;
}

/** How long a durable read may take, in ms. */
const READ_TIMEOUT_MS = 15_000;
/** Fetch limits: per partition, and per response, in bytes (a larger record batch is still returned). */
const PARTITION_MAX_BYTES = 10 * 1024 * 1024;
const FETCH_MAX_BYTES = 50 * 1024 * 1024;
/**
 * Attempts of one produce before it fails, 100 ms doubling to 2 s apart, each on fresh metadata (~10 s in
 * all); within an attempt the client retries twice on the same leader.
 */
const PRODUCE_ATTEMPTS = 8;
/** How long a freshly created topic may take to have a leader for every partition, in ms. */
const LEADERS_TIMEOUT_MS = 15_000;
const LATEST = -1n;
const EARLIEST = -2n;

/** The exponential backoff the retries here use: 100 ms doubling to `max` (2 s by default). */
function backoff(attempt: number, max = 2_000): number {
  return Math.min(max, 100 * 2 ** Math.max(0, attempt - 1));
}

/** The longest wait between two fetch attempts of a partition, in ms: reading resumes within it. */
const FETCH_RETRY_MAX_MS = 1_000;

/**
 * `@platformatic/kafka` behind {@link KafkaClient}.
 *
 * - No consumer group: the client assigns itself every partition and keeps its own positions, which is what
 *   "every server reads every record" needs. Each partition is followed by its own loop of fetches
 *   (long polls, `minBytes: 1`, `maxWaitMs` 500) on a connection of its own to the partition's leader, so a
 *   connect costs no group join (3 s on a production broker) and there is no group to delete on close.
 * - The first positions are the end offsets read at `consume()`: history is never re-read. A fetch that
 *   fails (broker gone, leader moved) refreshes the cluster metadata and is retried with backoff (100 ms
 *   doubling to 1 s) from the same position, forever, so nothing not yet delivered is skipped.
 * - Link state: up while fetches complete; down after two failed fetches in a row or when no fetch completed
 *   for 3 × `maxWaitMs`, at least 2 s.
 * - A durable read is fetches from the partition's leader, from the requested offset to the partition's end
 *   as it was when the read began: no group, no join.
 * - Producer: `acks` 1 or -1 (idempotent with -1). A failed send is retried (8 attempts, ~10 s), each
 *   attempt on fresh metadata so that it finds a partition's new leader as soon as it is elected; then it
 *   fails. A retried send keeps its sequence numbers, so an idempotent producer's retry is stored once.
 */
export class PlatformaticClient implements KafkaClient {
  readonly #options: PlatformaticClientOptions;
  readonly #maxWait: number;
  /** Next offset to read, per partition. */
  readonly #positions = new Map<number, string>();
  /** When each followed partition last completed a fetch (ms since the epoch). */
  readonly #lastFetch = new Map<number, number>();
  readonly #pools = new Set<ConnectionPool>();
  /** Pending backoff waits, ended at once by `close()`. */
  readonly #sleeps = new Set<() => void>();
  #admin: Admin | undefined;
  #producer: Producer | undefined;
  #reader: Consumer | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: PlatformaticClientOptions) {
    this.#options = options;
    this.#maxWait = options.maxWaitMs ?? 500;
  }

  /** Settings every connection of this client shares (credentials, TLS, timeouts). */
  #connection(): ConnectionOptions {
    const { sasl, tls } = this.#options;
    return {
      connectTimeout: 5_000,
      requestTimeout: this.#options.requestTimeoutMs ?? 10_000,
      ...(sasl && {
        sasl: {
          mechanism: sasl.mechanism.toUpperCase() as 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512',
          username: sasl.username,
          password: sasl.password,
        },
      }),
      ...(tls && { tls: { ...tls, ca: tls.ca as string | Buffer | Array<string | Buffer> | undefined } }),
    };
  }

  #base(retries: number): BaseOptions {
    return {
      clientId: this.#options.clientId ?? 'backplane',
      bootstrapBrokers: [...this.#options.brokers],
      retries,
      retryDelay: (_client, _operation, attempt) => backoff(attempt),
      ...this.#connection(),
    };
  }

  /** Metadata, topic creation: fails fast (the driver retries a failed connect with its own backoff). */
  #adminClient(): Admin {
    this.#admin ??= new Admin(this.#base(1));
    return this.#admin;
  }

  /** Fetches and offsets. A consumer that never joins a group: its group id is never used. */
  #readerClient(): Consumer {
    this.#reader ??= new Consumer({ ...this.#base(1), groupId: 'backplane-unused' });
    return this.#reader;
  }

  #producerClient(): Producer {
    const acks = this.#options.acks ?? 1;
    this.#producer ??= new Producer({
      // 2, not fewer: the idempotent producer would turn 0 or 1 into "retry forever".
      ...this.#base(2),
      acks,
      idempotent: this.#options.idempotent ?? acks === -1,
    });
    return this.#producer;
  }

  /** Runs `operation`; refused credentials or certificates come out as {@link KafkaAuthenticationError}. */
  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw this.#translate(error);
    }
  }

  #translate(error: unknown): unknown {
    return authenticationError(
      error,
      (e) => (e as { code?: unknown }).code === 'PLT_KFK_AUTHENTICATION',
      this.#options.sasl,
    );
  }

  clusterSize(): Promise<number> {
    return this.#call(async () => {
      const metadata = await this.#adminClient().metadata({ topics: [], forceUpdate: true });
      return metadata.brokers.size;
    });
  }

  ensureTopic(topic: string, spec: TopicSpec): Promise<TopicDescription> {
    return this.#call(async () => {
      const admin = this.#adminClient();
      let created = false;
      if (!(await admin.listTopics()).includes(topic)) {
        try {
          await admin.createTopics({
            topics: [topic],
            partitions: spec.partitions,
            replicas: spec.replicationFactor,
            configs: Object.entries(spec.config ?? {}).map(([name, value]) => ({ name, value })),
          });
          created = true;
        } catch (error) {
          // another server created it in between: then it is described as found
          if (!findInChain(error, (e) => (e as { apiId?: unknown }).apiId === 'TOPIC_ALREADY_EXISTS'))
            throw error;
        }
      }
      // Wait until every partition has a leader (a new topic has none for a moment).
      const deadline = Date.now() + LEADERS_TIMEOUT_MS;
      for (let attempt = 1; ; attempt++) {
        try {
          const metadata = await admin.metadata({ topics: [topic], forceUpdate: true });
          const partitions = metadata.topics.get(topic)?.partitions ?? [];
          if (partitions.length > 0 && partitions.every((p) => p.leader >= 0))
            return {
              partitions: partitions.length,
              replicationFactor: Math.min(...partitions.map((p) => p.replicas.length)),
              created,
            };
        } catch (error) {
          if (Date.now() >= deadline) throw error;
        }
        if (Date.now() >= deadline) throw new Error(`Topic '${topic}' has a partition without a leader.`);
        await this.#sleep(backoff(attempt));
      }
    });
  }

  produce(topic: string, records: readonly KafkaRecord[]): Promise<void> {
    return this.#send(
      records.map((r) => {
        const message = toMessage(topic, r.key, r.value);
        return r.partition === undefined ? message : { ...message, partition: r.partition };
      }),
    );
  }

  /** Session store: the records as they are, a `null` value as a tombstone. */
  put(topic: string, records: readonly StoreRecord[]): Promise<void> {
    return this.#send(records.map((r) => toMessage(topic, r.key, r.value)));
  }

  async #send(messages: Array<ReturnType<typeof toMessage> & { partition?: number }>): Promise<void> {
    const producer = this.#producerClient();
    for (let attempt = 1; ; attempt++) {
      try {
        // A null value is a tombstone (the client writes it as such; its types only know buffers).
        await producer.send({
          messages: messages as Array<Parameters<Producer['send']>[0]['messages'][number]>,
        });
        return;
      } catch (error) {
        // Each attempt asks where the partitions' leaders are now (one may have died and been replaced).
        producer.clearMetadata();
        const translated = this.#translate(error);
        const final =
          translated instanceof KafkaAuthenticationError ||
          findInChain(error, (e) => (e as { canRetry?: unknown }).canRetry === false) !== undefined;
        if (final || attempt >= PRODUCE_ATTEMPTS || this.#closed) throw translated;
        await this.#sleep(backoff(attempt));
      }
    }
  }

  position(partition: number): string | undefined {
    return this.#positions.get(partition);
  }

  /** The first (`EARLIEST`) or next (`LATEST`) offset of each partition of `topic`. */
  async #offsets(topic: string, timestamp: bigint): Promise<bigint[]> {
    const offsets = await this.#readerClient().listOffsets({ topics: [topic], timestamp });
    const found = offsets.get(topic);
    if (!found) throw new Error(`No offsets for topic '${topic}'.`);
    return found;
  }

  async consume(
    topic: string,
    onRecord: (record: ConsumedRecord) => void,
    onState: (up: boolean, error?: Error) => void,
  ): Promise<void> {
    // Where "now" is: everything produced after this point is read, nothing before it.
    const ends = await this.#call(() => this.#offsets(topic, LATEST));
    if (this.#closed) return;
    for (const [partition, offset] of ends.entries()) this.#positions.set(partition, offset.toString());

    let up = true;
    const silenceLimit = Math.max(2_000, 3 * this.#maxWait);
    const setUp = (value: boolean, error?: Error) => {
      if (this.#closed || value === up) return;
      up = value;
      onState(value, error);
    };
    const report = {
      fetched: (partition: number) => {
        const now = Date.now();
        this.#lastFetch.set(partition, now);
        if (!up && [...this.#lastFetch.values()].every((t) => now - t <= silenceLimit)) setUp(true);
      },
      failed: (error: Error) => setUp(false, error),
    };
    const now = Date.now();
    for (const partition of this.#positions.keys()) {
      this.#lastFetch.set(partition, now);
      void this.#follow(topic, partition, onRecord, report);
    }
    clearInterval(this.#watchdog);
    this.#watchdog = setInterval(() => {
      const oldest = Math.min(...this.#lastFetch.values());
      const silent = Date.now() - oldest;
      if (silent > silenceLimit) setUp(false, new Error(`No Kafka fetch completed for ${silent} ms`));
    }, this.#maxWait);
    this.#watchdog.unref();
  }

  /**
   * Follows one partition: fetches from its leader, from this client's position, on a connection of its
   * own (the broker answers one request per connection at a time, so a long poll would hold up any other),
   * until the client is closed.
   */
  async #follow(
    topic: string,
    partition: number,
    onRecord: (record: ConsumedRecord) => void,
    report: { fetched(partition: number): void; failed(error: Error): void },
  ): Promise<void> {
    const pool = new ConnectionPool(this.#options.clientId ?? 'backplane', this.#connection());
    this.#pools.add(pool);
    const reader = this.#readerClient();
    let failures = 0;
    try {
      while (!this.#closed) {
        const from = BigInt(this.#positions.get(partition) ?? '0');
        try {
          const response = await this.#fetchFrom(reader, pool, topic, partition, from);
          if (!response) return;
          const next = deliver(response, partition, from, (key, value, offset) =>
            onRecord({ key, value, partition, offset: offset.toString() }),
          );
          this.#positions.set(partition, next.toString());
          failures = 0;
          report.fetched(partition);
        } catch (error) {
          if (this.#closed) return;
          reader.clearMetadata();
          if (findInChain(error, (e) => (e as { apiId?: unknown }).apiId === 'OFFSET_OUT_OF_RANGE')) {
            // Retention deleted records this client had not read yet: go on from the oldest left (core
            // sees the sequence gap). Never past the end: nothing is skipped that is still stored.
            const start = (await this.#offsets(topic, EARLIEST).catch(() => undefined))?.[partition];
            if (start !== undefined && start > from) this.#positions.set(partition, start.toString());
          }
          failures++;
          if (failures >= 2) report.failed(this.#translate(error) as Error);
          await this.#sleep(backoff(failures, FETCH_RETRY_MAX_MS));
        }
      }
    } finally {
      this.#pools.delete(pool);
      await pool.close().catch(() => {});
    }
  }

  /** Session store: the next offset to be written to each partition of `topic`. */
  endOffsets(topic: string): Promise<string[]> {
    return this.#call(async () => (await this.#offsets(topic, LATEST)).map((o) => o.toString()));
  }

  /**
   * Session store: follows every partition of `topic` from its first offset, tombstones included, each on
   * a connection of its own, until the client closes; failed fetches are retried like the main topic's.
   */
  async follow(topic: string, onBatch: (batch: FollowedBatch) => void): Promise<void> {
    const starts = await this.#call(() => this.#offsets(topic, EARLIEST));
    if (this.#closed) return;
    for (const [partition, start] of starts.entries()) void this.#tail(topic, partition, start, onBatch);
  }

  async #tail(
    topic: string,
    partition: number,
    start: bigint,
    onBatch: (batch: FollowedBatch) => void,
  ): Promise<void> {
    const pool = new ConnectionPool(this.#options.clientId ?? 'backplane', this.#connection());
    this.#pools.add(pool);
    const reader = this.#readerClient();
    let from = start;
    let failures = 0;
    try {
      while (!this.#closed) {
        try {
          const response = await this.#fetchFrom(reader, pool, topic, partition, from);
          if (!response) return;
          const records: StoreRecord[] = [];
          from = deliverAll(response, partition, from, (key, value) => records.push({ key, value }));
          failures = 0;
          onBatch({ partition, records, next: from.toString() });
        } catch (error) {
          if (this.#closed) return;
          reader.clearMetadata();
          if (findInChain(error, (e) => (e as { apiId?: unknown }).apiId === 'OFFSET_OUT_OF_RANGE')) {
            // Retention removed what was not read yet: go on from the oldest record left.
            const oldest = (await this.#offsets(topic, EARLIEST).catch(() => undefined))?.[partition];
            if (oldest !== undefined && oldest > from) from = oldest;
          }
          failures++;
          await this.#sleep(backoff(failures, FETCH_RETRY_MAX_MS));
        }
      }
    } finally {
      this.#pools.delete(pool);
      await pool.close().catch(() => {});
    }
  }

  /**
   * One long-poll fetch of `partition` from offset `from`, sent to its leader on the follower's own
   * connection `pool`; `undefined` when the client closed meanwhile.
   */
  async #fetchFrom(
    reader: Consumer,
    pool: ConnectionPool,
    topic: string,
    partition: number,
    from: bigint,
  ): Promise<FetchResponse | undefined> {
    const { node, topicId } = await this.#leaderOf(topic, partition);
    const response = await reader.fetch({
      node,
      topics: [{ topicId, partitions: [fetchPartition(partition, from)] }],
      maxWaitTime: this.#maxWait,
      minBytes: 1,
      maxBytes: FETCH_MAX_BYTES,
      connectionPool: pool,
    });
    return this.#closed ? undefined : response;
  }

  /** The partition's leader and the topic's id, from the cached metadata (refreshed after a failure). */
  async #leaderOf(topic: string, partition: number): Promise<{ node: number; topicId: string }> {
    const metadata = await this.#readerClient().metadata({ topics: [topic] });
    const described = metadata.topics.get(topic);
    const node = described?.partitions[partition]?.leader;
    if (!described || node === undefined || node < 0)
      throw new Error(`Partition ${partition} of '${topic}' has no leader.`);
    return { node, topicId: described.id };
  }

  /** Durable mode: fetches from the partition's leader, from `offset` to the end as it was at the start. */
  read(topic: string, partition: number, offset: string, key: string, max: number): Promise<KafkaReadResult> {
    return this.#call(async () => {
      const [starts, ends] = await Promise.all([
        this.#offsets(topic, EARLIEST),
        this.#offsets(topic, LATEST),
      ]);
      const low = starts[partition];
      const end = ends[partition];
      if (low === undefined || end === undefined)
        throw new Error(`Topic '${topic}' has no partition ${partition}.`);
      const records: ConsumedRecord[] = [];
      let next = BigInt(offset) < low ? low : BigInt(offset);
      const deadline = Date.now() + READ_TIMEOUT_MS;
      const reader = this.#readerClient();
      while (next < end && records.length < max) {
        if (this.#closed) throw new Error('The Kafka client is closed.');
        if (Date.now() > deadline)
          throw new Error(`Reading ${topic}/${partition} took over ${READ_TIMEOUT_MS} ms`);
        const { node, topicId } = await this.#leaderOf(topic, partition);
        const from = next;
        const response = await reader.fetch({
          node,
          topics: [{ topicId, partitions: [fetchPartition(partition, from)] }],
          maxWaitTime: 100,
          minBytes: 1,
          maxBytes: FETCH_MAX_BYTES,
        });
        next = deliver(response, partition, from, (recordKey, value, at) => {
          if (at < end && recordKey === key && records.length < max)
            records.push({ key, value, partition, offset: at.toString() });
        });
      }
      return { records, startOffset: low.toString() };
    });
  }

  /** Waits `ms`, or less when the client closes meanwhile. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#sleeps.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#sleeps.add(done);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#watchdog);
    for (const wake of [...this.#sleeps]) wake();
    await Promise.allSettled([
      ...[...this.#pools].map((pool) => pool.close()),
      this.#producer?.close(),
      this.#reader?.close(true),
      this.#admin?.close(),
    ]);
  }
}

type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>;

/** One partition of a fetch request, from `offset`, without leader epoch checks. */
function fetchPartition(partition: number, offset: bigint) {
  return {
    partition,
    fetchOffset: offset,
    currentLeaderEpoch: -1,
    lastFetchedEpoch: -1,
    partitionMaxBytes: PARTITION_MAX_BYTES,
  };
}

/** A record to produce: the key UTF-8 when well-formed, else UTF-16LE with a header that says so. */
function toMessage(topic: string, key: string, data: Uint8Array | null) {
  const value = data === null ? null : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return isWellFormed(key)
    ? { topic, key: Buffer.from(key, 'utf8'), value }
    : {
        topic,
        key: Buffer.from(key, 'utf16le'),
        value,
        headers: new Map([[Buffer.from(KEY_ENCODING_HEADER), Buffer.from('utf16le')]]),
      };
}

/**
 * Hands each record of `partition` at or after `from` to `onRecord` (control records and records without
 * a key or value are skipped) and returns the next offset to fetch.
 */
function deliver(
  response: FetchResponse,
  partition: number,
  from: bigint,
  onRecord: (key: string, value: Buffer, offset: bigint) => void,
): bigint {
  return deliverAll(response, partition, from, (key, value, offset) => {
    if (value) onRecord(key, value, offset);
  });
}

/**
 * Hands each record of `partition` at or after `from` to `onRecord`, tombstones (no value) included
 * (control records and records without a key are skipped), and returns the next offset to fetch.
 */
function deliverAll(
  response: FetchResponse,
  partition: number,
  from: bigint,
  onRecord: (key: string, value: Buffer | null, offset: bigint) => void,
): bigint {
  let next = from;
  for (const topic of response.responses)
    for (const part of topic.partitions) {
      if (part.partitionIndex !== partition) continue;
      for (const batch of part.records ?? []) {
        const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
        if (last + 1n > next) next = last + 1n;
        if (batch.attributes & IS_CONTROL) continue;
        for (const record of batch.records) {
          const offset = batch.firstOffset + BigInt(record.offsetDelta);
          if (offset < from || !record.key) continue;
          const utf16 = record.headers.some(
            ([k, v]) => k?.toString() === KEY_ENCODING_HEADER && v?.toString() === 'utf16le',
          );
          onRecord(record.key.toString(utf16 ? 'utf16le' : 'utf8'), record.value ?? null, offset);
        }
      }
    }
  return next;
}
