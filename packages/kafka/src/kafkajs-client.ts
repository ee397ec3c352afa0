import { randomBytes } from 'node:crypto';
import {
  type Consumer,
  type ConsumerConfig,
  type IHeaders,
  Kafka,
  type KafkaConfig,
  logLevel,
  type Producer,
  type ProducerConfig,
  type SASLOptions,
} from 'kafkajs';
import { authenticationError } from './errors.js';
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

/** Options of `KafkajsClient`. */
export interface KafkajsClientOptions {
  /** @default ['127.0.0.1:9092'] */
  brokers: string[];
  /** SASL credentials (kafkajs's own `config.sasl` wins over this). */
  sasl?: KafkaSaslOptions;
  /** TLS to the brokers (kafkajs's own `config.ssl` wins over this); absent: plain TCP. */
  tls?: KafkaTlsOptions;
  /** Extra kafkajs settings (clientId, retry, …). */
  config?: Omit<KafkaConfig, 'brokers'>;
  /** Consumer overrides (the group id and the restart policy stay the client's own). */
  consumer?: Omit<ConsumerConfig, 'groupId'>;
  /** Producer overrides. */
  producer?: ProducerConfig;
  /**
   * Acknowledgement a produce waits for: `1` the partition leader, `-1` every in-sync replica (nothing lost
   * when a leader dies, one replication round trip slower).
   * @default 1
   */
  acks?: 1 | -1;
  /**
   * Idempotent producer (needs `acks: -1`): the broker stores a batch once even when kafkajs retries it
   * after a lost answer (a leader that died after writing), so a retried produce is not stored twice.
   * Costs one `InitProducerId` round trip when the producer connects; nothing per send.
   * @default true when `acks` is -1, else false
   */
  idempotent?: boolean;
  /**
   * How long the live consumer may go without completing a fetch before it is replaced by a fresh one
   * (a fresh group, resuming from this client's own positions), in ms. kafkajs follows a partition leader
   * that moved on its own; this is the bound for when it does not (stuck on a dead coordinator or leader).
   * The link is reported down long before (no fetch for 3 × the fetch wait, at least 2 s).
   * @default 10_000
   */
  restartAfterSilenceMs?: number;
}

/** The consumer's longest silent wait on the broker; data is returned as soon as it arrives (`minBytes: 1`). */
const DEFAULT_MAX_WAIT_MS = 500;
/** How long a durable read may take, group join included, in ms. */
const READ_TIMEOUT_MS = 15_000;
/** How long a (re)started consumer may take to join its group before the attempt counts as failed, in ms. */
const JOIN_TIMEOUT_MS = 20_000;
/** See {@link KafkajsClientOptions.restartAfterSilenceMs}. */
const DEFAULT_RESTART_AFTER_SILENCE_MS = 10_000;

/**
 * kafkajs behind {@link KafkaClient}.
 *
 * - Producer: sends at once (kafkajs has no linger), one request in flight (order); `acks` 1 (the leader)
 *   or -1 (every in-sync replica), idempotent with -1. kafkajs refreshes its metadata and retries when a
 *   partition's leader moved (NOT_LEADER, a refused connection).
 * - Consumer: a long poll, `minBytes: 1` and `maxWaitTimeInMs: 500`: a record is returned as soon as it is
 *   written, and an idle server costs the broker two fetches a second (10 ms would cost a hundred and gain
 *   nothing: measured, p50 4–6 ms either way).
 * - Every server must read every record, and kafkajs has no manual assignment, so each consumer joins a
 *   consumer group of its own (`backplane-<random>-<n>`). The client keeps its own positions (no offset
 *   commits): the first join starts at the end offsets read just before it (history is never re-read), and
 *   any later join resumes after the last record delivered.
 * - When the consumer crashes (broker gone past kafkajs's retries), the client starts a fresh consumer in a
 *   fresh group, forever with backoff, instead of rejoining the old group: a restarted coordinator would keep
 *   the new member waiting for the old one's session to expire (10 s). Groups are deleted on close; one
 *   left behind by a crashed process has no offsets and disappears with its member.
 * - Link state: up while fetches complete; down after a crash or when no fetch completed for 3 × the fetch
 *   wait, at least 2 s (a dead or frozen broker). A consumer that completes no fetch for
 *   `restartAfterSilenceMs` is replaced like a crashed one (kafkajs may keep it waiting on a dead broker).
 */
export class KafkajsClient implements KafkaClient {
  readonly #kafka: Kafka;
  readonly #options: KafkajsClientOptions;
  readonly #instance = randomBytes(6).toString('hex');
  readonly #groups = new Set<string>();
  /** Next offset to read, per partition. */
  readonly #positions = new Map<number, string>();
  #generation = 0;
  #producer: Producer | undefined;
  #consumer: Consumer | undefined;
  /** Session store: the consumers following a store topic. */
  readonly #followers = new Set<Consumer>();
  #closed = false;
  #watchdog: NodeJS.Timeout | undefined;

  constructor(options: KafkajsClientOptions) {
    this.#options = options;
    const { sasl, tls } = options;
    this.#kafka = new Kafka({
      clientId: 'backplane',
      logLevel: logLevel.NOTHING,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2_000 },
      ...(sasl && {
        sasl: { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } as SASLOptions,
      }),
      ...(tls && { ssl: { ...tls, ca: tls.ca as string | Buffer | Array<string | Buffer> | undefined } }),
      ...options.config,
      brokers: options.brokers,
    });
  }

  /** Refused credentials or certificates as {@link KafkaAuthenticationError}; anything else as it is. */
  #translate(error: unknown): unknown {
    return authenticationError(
      error,
      (e) => e.name === 'KafkaJSSASLAuthenticationError',
      this.#options.config?.sasl ?? this.#options.sasl,
    );
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw this.#translate(error);
    }
  }

  clusterSize(): Promise<number> {
    return this.#call(() => this.#clusterSize());
  }

  async #clusterSize(): Promise<number> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      return (await admin.describeCluster()).brokers.length;
    } finally {
      await admin.disconnect();
    }
  }

  ensureTopic(topic: string, spec: TopicSpec): Promise<TopicDescription> {
    return this.#call(() => this.#ensureTopic(topic, spec));
  }

  async #ensureTopic(topic: string, spec: TopicSpec): Promise<TopicDescription> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      const existing = await admin.listTopics();
      let created = false;
      if (!existing.includes(topic)) {
        // false when another server created it in between: then it is described as found
        created = await admin.createTopics({
          topics: [
            {
              topic,
              numPartitions: spec.partitions,
              replicationFactor: spec.replicationFactor,
              configEntries: Object.entries(spec.config ?? {}).map(([name, value]) => ({ name, value })),
            },
          ],
          waitForLeaders: true,
        });
      }
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = topics[0]?.partitions ?? [];
      return {
        partitions: partitions.length || spec.partitions,
        replicationFactor:
          partitions.length > 0
            ? Math.min(...partitions.map((p) => p.replicas.length))
            : spec.replicationFactor,
        created,
      };
    } finally {
      await admin.disconnect();
    }
  }

  position(partition: number): string | undefined {
    return this.#positions.get(partition);
  }

  /**
   * A consumer of its own (kafkajs reads only through consumer groups): a fresh group, positioned at
   * `offset` on join, reading until the end offset taken before it started; the group is deleted after.
   */
  read(topic: string, partition: number, offset: string, key: string, max: number): Promise<KafkaReadResult> {
    return this.#call(() => this.#read(topic, partition, offset, key, max));
  }

  async #read(
    topic: string,
    partition: number,
    offset: string,
    key: string,
    max: number,
  ): Promise<KafkaReadResult> {
    const admin = this.#kafka.admin();
    await admin.connect();
    let low: bigint;
    let end: bigint;
    try {
      const bounds = (await admin.fetchTopicOffsets(topic)).find((o) => o.partition === partition);
      if (!bounds) throw new Error(`Topic '${topic}' has no partition ${partition}.`);
      low = BigInt(bounds.low);
      end = BigInt(bounds.high);
    } finally {
      await admin.disconnect().catch(() => {});
    }
    const from = BigInt(offset) < low ? low : BigInt(offset);
    const records: ConsumedRecord[] = [];
    if (from >= end || max <= 0) return { records, startOffset: low.toString() };

    const groupId = `backplane-${this.#instance}-read-${this.#generation++}`;
    const consumer = this.#kafka.consumer({
      groupId,
      maxWaitTimeInMs: 100,
      minBytes: 1,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000, restartOnFailure: async () => false },
    });
    let finish!: () => void;
    let fail!: (error: Error) => void;
    const done = new Promise<void>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    consumer.on(consumer.events.GROUP_JOIN, () =>
      consumer.seek({ topic, partition, offset: from.toString() }),
    );
    consumer.on(consumer.events.CRASH, ({ payload }) => fail(payload.error));
    const timer = setTimeout(
      () => fail(new Error(`Reading ${topic}/${partition} took over ${READ_TIMEOUT_MS} ms`)),
      READ_TIMEOUT_MS,
    );
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition: at, message }) => {
          if (at !== partition) return;
          const position = BigInt(message.offset);
          if (position < from) return;
          if (message.key && message.value && recordKey(message.key, message.headers) === key)
            records.push({ key, value: message.value, partition, offset: message.offset });
          if (records.length >= max || position + 1n >= end) finish();
        },
      });
      await done;
    } finally {
      clearTimeout(timer);
      await consumer.disconnect().catch(() => {});
      void this.#deleteGroups([groupId]);
    }
    return { records: records.slice(0, max), startOffset: low.toString() };
  }

  produce(topic: string, records: readonly KafkaRecord[]): Promise<void> {
    return this.#call(() => this.#produce(topic, records));
  }

  async #produce(topic: string, records: readonly KafkaRecord[]): Promise<void> {
    await this.#send(
      topic,
      records.map((r) => {
        const message = toMessage(r.key, r.value);
        return r.partition === undefined ? message : { ...message, partition: r.partition };
      }),
    );
  }

  /** Session store: the records as they are, a `null` value as a tombstone. */
  put(topic: string, records: readonly StoreRecord[]): Promise<void> {
    return this.#call(() =>
      this.#send(
        topic,
        records.map((r) => toMessage(r.key, r.value)),
      ),
    );
  }

  /** Session store: the next offset to be written to each partition of `topic`. */
  endOffsets(topic: string): Promise<string[]> {
    return this.#call(async () => {
      const admin = this.#kafka.admin();
      await admin.connect();
      try {
        const ends: string[] = [];
        for (const { partition, high } of await admin.fetchTopicOffsets(topic)) ends[partition] = high;
        return ends;
      } finally {
        await admin.disconnect().catch(() => {});
      }
    });
  }

  /**
   * Session store: a consumer in a group of its own (`backplane-<random>-sessions`), from the first offset
   * of every partition; kafkajs restarts it after a crash, and every join resumes after the last record
   * delivered. Resolves once it has joined.
   */
  follow(topic: string, onBatch: (batch: FollowedBatch) => void): Promise<void> {
    return this.#call(() => this.#follow(topic, onBatch));
  }

  async #follow(topic: string, onBatch: (batch: FollowedBatch) => void): Promise<void> {
    const groupId = `backplane-${this.#instance}-sessions-${this.#generation++}`;
    const positions = new Map<number, string>();
    const consumer = this.#kafka.consumer({
      groupId,
      maxWaitTimeInMs: this.#options.consumer?.maxWaitTimeInMs ?? DEFAULT_MAX_WAIT_MS,
      minBytes: 1,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
    this.#groups.add(groupId);
    this.#followers.add(consumer);
    let joined!: () => void;
    const ready = new Promise<void>((resolve) => {
      joined = resolve;
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      for (const partition of payload.memberAssignment[topic] ?? []) {
        const offset = positions.get(partition);
        if (offset !== undefined) consumer.seek({ topic, partition, offset });
      }
      joined();
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          const next = (BigInt(message.offset) + 1n).toString();
          positions.set(partition, next);
          const records: StoreRecord[] = message.key
            ? [{ key: recordKey(message.key, message.headers), value: message.value }]
            : [];
          onBatch({ partition, records, next });
        },
      });
      await Promise.race([
        ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`The consumer did not join its group within ${JOIN_TIMEOUT_MS} ms`)),
            JOIN_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (error) {
      this.#followers.delete(consumer);
      await consumer.disconnect().catch(() => {});
      void this.#deleteGroups([groupId]);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async #send(topic: string, messages: Array<ReturnType<typeof toMessage> & { partition?: number }>) {
    const acks = this.#options.acks ?? 1;
    this.#producer ??= this.#kafka.producer({
      allowAutoTopicCreation: false,
      idempotent: this.#options.idempotent ?? acks === -1,
      // kafkajs would retry an idempotent send forever: a send that cannot be had must fail (core's outbox
      // retries it, and receivers drop what arrives twice by its sequence number).
      retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 2_000 },
      ...this.#options.producer,
      maxInFlightRequests: 1,
    });
    await this.#producer.connect();
    await this.#producer.send({
      topic,
      acks,
      messages,
    });
  }

  consume(
    topic: string,
    onRecord: (record: ConsumedRecord) => void,
    onState: (up: boolean, error?: Error) => void,
  ): Promise<void> {
    return this.#call(() => this.#consume(topic, onRecord, onState));
  }

  async #consume(
    topic: string,
    onRecord: (record: ConsumedRecord) => void,
    onState: (up: boolean, error?: Error) => void,
  ): Promise<void> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      // Where "now" is, before joining: everything produced after this point is read, nothing before it.
      for (const { partition, offset } of await admin.fetchTopicOffsets(topic))
        this.#positions.set(partition, offset);
    } finally {
      await admin.disconnect();
    }
    await this.#startWithRetry(topic, onRecord, onState);
  }

  /**
   * Starts a consumer, retrying with backoff (a fresh group each time) until one has joined or the client is
   * closed; then deletes the groups of the failed attempts and of a crashed predecessor.
   */
  async #startWithRetry(
    topic: string,
    onRecord: (record: ConsumedRecord) => void,
    onState: (up: boolean, error?: Error) => void,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#startConsumer(topic, onRecord, onState);
        break;
      } catch (error) {
        await this.#consumer?.disconnect().catch(() => {});
        if (this.#closed) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * 2 ** attempt)));
        if (this.#closed) throw error;
      }
    }
    if (this.#closed) {
      await this.#consumer?.disconnect().catch(() => {});
      return;
    }
    const current = [...this.#groups].at(-1);
    const stale = [...this.#groups].filter((g) => g !== current);
    if (stale.length > 0) void this.#deleteGroups(stale);
  }

  /** Starts a consumer in a fresh group and resolves once it has joined and is positioned. */
  async #startConsumer(
    topic: string,
    onRecord: (record: ConsumedRecord) => void,
    onState: (up: boolean, error?: Error) => void,
  ): Promise<void> {
    const groupId = `backplane-${this.#instance}-${this.#generation++}`;
    const maxWait = this.#options.consumer?.maxWaitTimeInMs ?? DEFAULT_MAX_WAIT_MS;
    const consumer = this.#kafka.consumer({
      maxWaitTimeInMs: maxWait,
      minBytes: 1,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      ...this.#options.consumer,
      groupId,
      retry: {
        retries: 5,
        initialRetryTime: 100,
        maxRetryTime: 2_000,
        ...this.#options.consumer?.retry,
        // kafkajs would restart a crashed consumer in the same group; this client starts a new one instead.
        restartOnFailure: async () => false,
      },
    });
    this.#consumer = consumer;
    this.#groups.add(groupId);

    let lastFetch = Date.now();
    let up = false;
    let hasJoined = false;
    const setUp = (value: boolean, error?: Error) => {
      if (this.#consumer !== consumer || this.#closed || value === up) return;
      up = value;
      onState(value, error);
    };
    let joined!: () => void;
    let failed!: (error: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      joined = resolve;
      failed = reject;
    });
    ready.catch(() => {}); // a crash before `await ready` below must not count as unhandled

    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      // Every (re)join starts where this client left off, never where a reset policy would put it.
      for (const partition of payload.memberAssignment[topic] ?? []) {
        const offset = this.#positions.get(partition);
        if (offset !== undefined) consumer.seek({ topic, partition, offset });
      }
      lastFetch = Date.now();
      hasJoined = true;
      joined();
    });
    consumer.on(consumer.events.FETCH, () => {
      lastFetch = Date.now();
      setUp(true);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (this.#consumer !== consumer) return;
      if (!hasJoined) return failed(payload.error); // the caller decides: connect() fails, or a restart retries
      setUp(false, payload.error);
      this.#restart(topic, onRecord, onState);
    });
    const restartAfter = this.#options.restartAfterSilenceMs ?? DEFAULT_RESTART_AFTER_SILENCE_MS;
    clearInterval(this.#watchdog);
    this.#watchdog = setInterval(() => {
      const silent = Date.now() - lastFetch;
      if (silent > Math.max(2_000, 3 * maxWait))
        setUp(false, new Error(`No Kafka fetch completed for ${silent} ms`));
      if (hasJoined && silent > restartAfter && this.#consumer === consumer && !this.#closed) {
        // Stuck (on a dead coordinator or leader): replaced like a crashed consumer.
        clearInterval(this.#watchdog);
        this.#consumer = undefined;
        void consumer.disconnect().catch(() => {});
        this.#restart(topic, onRecord, onState);
      }
    }, maxWait);
    this.#watchdog.unref();

    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        this.#positions.set(partition, (BigInt(message.offset) + 1n).toString());
        if (!message.key || !message.value) return;
        onRecord({
          key: recordKey(message.key, message.headers),
          value: message.value,
          partition,
          offset: message.offset,
        });
      },
    });
    let joinTimer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        new Promise<never>((_, reject) => {
          joinTimer = setTimeout(
            () => reject(new Error(`The consumer did not join its group within ${JOIN_TIMEOUT_MS} ms`)),
            JOIN_TIMEOUT_MS,
          );
        }),
      ]);
    } finally {
      clearTimeout(joinTimer);
    }
    up = true;
  }

  /** After a crash: a fresh consumer in a fresh group (see {@link KafkajsClient#startWithRetry}). */
  #restart(
    topic: string,
    onRecord: (record: ConsumedRecord) => void,
    onState: (up: boolean, error?: Error) => void,
  ): void {
    if (this.#closed) return;
    this.#startWithRetry(topic, onRecord, onState).then(
      () => {
        if (!this.#closed) onState(true);
      },
      () => {}, // closed meanwhile
    );
  }

  async #deleteGroups(groups: string[]): Promise<void> {
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      await admin.deleteGroups(groups);
      for (const g of groups) this.#groups.delete(g);
    } catch {
      // the broker may be gone; a group without offsets disappears with its member
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#watchdog);
    const consumer = this.#consumer;
    this.#consumer = undefined;
    const followers = [...this.#followers];
    this.#followers.clear();
    await Promise.allSettled([
      consumer?.disconnect(),
      this.#producer?.disconnect(),
      ...followers.map((f) => f.disconnect()),
    ]);
    if (this.#groups.size > 0) await this.#deleteGroups([...this.#groups]);
  }
}

/** A record to produce: the key UTF-8 when well-formed, else UTF-16LE with a header that says so. */
function toMessage(key: string, data: Uint8Array | null) {
  const value = data === null ? null : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return isWellFormed(key)
    ? { key, value }
    : { key: Buffer.from(key, 'utf16le'), value, headers: { [KEY_ENCODING_HEADER]: 'utf16le' } };
}

/** A record's channel: its key, UTF-8 unless a header says UTF-16LE. */
function recordKey(key: Buffer, headers: IHeaders | undefined): string {
  return headers?.[KEY_ENCODING_HEADER]?.toString() === 'utf16le'
    ? key.toString('utf16le')
    : key.toString('utf8');
}
