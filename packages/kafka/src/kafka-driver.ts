import {
  BrokerError,
  DriverBase,
  type DriverCapabilities,
  type DurableDriver,
  InvalidArgumentError,
  type LogEntry,
  type SessionStoreDriver,
} from '@backplane/core';
import { backoffDelay } from '@backplane/core/internal';
import { KafkaAuthenticationError } from './errors.js';
import type {
  KafkaClient,
  KafkaClientConfig,
  KafkaClientFactory,
  KafkaRecord,
  KafkaSaslOptions,
  KafkaTlsOptions,
} from './kafka-client.js';
import { KafkajsClient, type KafkajsClientOptions } from './kafkajs-client.js';
import { PlatformaticClient } from './platformatic-client.js';
import { type KafkaSessionStoreOptions, SessionTopic } from './session-topic.js';

/** The clients that ship with the driver. */
export type KafkaClientName = 'platformatic' | 'kafkajs';

/** The client used when `client` is not set. */
export const DEFAULT_KAFKA_CLIENT: KafkaClientName = 'platformatic';

/** Most records handed to the client in one send. */
const MAX_RECORDS_PER_SEND = 500;

/** Options of `KafkaDriver`. */
export interface KafkaDriverOptions {
  /**
   * Bootstrap brokers, `host:port` each: an array, or one comma-separated string
   * (`'10.0.0.1:9092,10.0.0.2:9092'`, what `backplane serve --url` passes). Any of them is enough to find
   * the whole cluster; list several so that one dead broker does not stop a (re)connect.
   * @default ['127.0.0.1:9092']
   */
  brokers?: readonly string[] | string;
  /**
   * SASL authentication to the brokers: `plain`, `scram-sha-256` or `scram-sha-512`, with a user and a
   * password (sent over TLS when `tls` is set, else in clear, as Kafka's `SASL_PLAINTEXT`).
   * @default none
   */
  sasl?: KafkaSaslOptions;
  /**
   * TLS to the brokers: `true` checks their certificates against Node's bundled root CAs; an object sets
   * the CA, a client certificate and key (mutual TLS), `rejectUnauthorized` and `servername`.
   * @default false (plain TCP)
   */
  tls?: boolean | KafkaTlsOptions;
  /**
   * The Kafka client: `'platformatic'` (`@platformatic/kafka`), `'kafkajs'`, a {@link KafkaClientFactory}
   * (called once with the resolved `brokers`, `acks`, `sasl` and `tls`: how another client is plugged in),
   * or a client instance (which then owns its brokers, credentials and acks). `@platformatic/kafka` reads
   * without consumer groups (no group join at connect or per durable read); kafkajs is no longer maintained.
   * @default 'platformatic'
   */
  client?: KafkaClientName | KafkaClientFactory | KafkaClient;
  /** Extra kafkajs settings (clientId, retry, …) when `client` is `'kafkajs'`. */
  kafkajs?: KafkajsClientOptions['config'];
  /**
   * The topic every server of one app reads and writes: one per app and hub (e.g. `myapp.chat`).
   * @default 'backplane'
   */
  topic?: string;
  /** Partitions when the topic is created. 1 keeps one total order; more spread load, order stays per channel. @default 1 */
  partitions?: number;
  /**
   * Replication factor when the topic is created (copies of each partition, on as many brokers).
   * Automatic by default: min(3, the brokers in the cluster at connect), so a topic on a 3-broker cluster
   * survives the loss of any one of them. An existing topic with fewer replicas than this is refused at
   * connect in durable mode (and whenever this is set explicitly) with a `BrokerError`: recreate it,
   * or set this to what it has.
   * @default min(3, cluster size)
   */
  replicationFactor?: number;
  /**
   * The topic's `min.insync.replicas` when it is created: with `acks: -1`, a write is acknowledged once
   * this many replicas hold it, and refused (retried, then an error) while fewer are in sync.
   * @default 2 when the replication factor is 3 or more, else 1
   */
  minInsyncReplicas?: number;
  /**
   * Producer acknowledgement for the built-in clients: `-1` waits for every in-sync replica (at least
   * `minInsyncReplicas`), so an acknowledged record survives its leader's death; `1` waits for the leader
   * alone. With -1 the producer is also idempotent (a retried send is stored once).
   * @default -1 in durable mode, else 1
   */
  acks?: 1 | -1;
  /** How long the first `connect()` may take, in ms. @default 30_000 */
  connectTimeout?: number;
  /**
   * Durable mode: the topic itself is the log. Messages carry their position (`partition:offset`) and a
   * server that missed some reads them back from the channel's partition. What the log keeps is the topic's
   * retention (`retention.ms` / `retention.bytes`, per topic, not per channel). @default false
   */
  durable?: boolean;
  /**
   * The session store (`putRecord`, `getRecord`, `deleteRecord`): a compacted topic every server follows
   * from its start; see {@link KafkaSessionStoreOptions}.
   * @default { topic: '<topic>.sessions', ttl: 3_600_000, readTimeout: 10_000 }
   */
  sessions?: KafkaSessionStoreOptions;
}

/**
 * The Kafka driver: one topic per app; every server reads every message from the current end (never the
 * history) and keeps the channels it subscribes to (receiver-side filtering, since Kafka has no cheap
 * per-channel subscriptions).
 *
 * Publishes are queued and sent in call order, one send at a time: the records published in one turn of
 * the event loop leave together in one send at the end of the turn (`setImmediate`), and those published
 * while a send is in flight leave together in the next one, at most 500 records per send.
 * Each publish settles with its own promise once its send is acknowledged, or fails with its own
 * `BrokerError` (naming its channel) when the send fails; so do the publishes queued behind a failed send,
 * unsent, so that nothing overtakes what failed.
 *
 * Session store: records are kept in a compacted topic (`sessions.topic`), created on connect next to the
 * main one and replicated like it. Every server follows it from the start and keeps the live records in
 * memory; a read waits until that copy has caught up with the topic's end as of the read, so it sees what
 * any server wrote before. Each record carries its deadline; the topic's retention removes records never
 * deleted.
 */
export class KafkaDriver
  extends DriverBase
  implements SessionStoreDriver, Pick<DurableDriver, 'comparePositions'>
{
  readonly name = 'kafka';
  readonly capabilities: DriverCapabilities;
  readonly #client: KafkaClient;
  readonly #topic: string;
  readonly #options: KafkaDriverOptions;
  readonly #brokers: string[];
  /** Set when the topic is refused (replicas): `connect()` fails with it at once, no retry. */
  #refused: BrokerError | undefined;
  readonly #sessions: SessionTopic;
  #partitions = 1;
  /** Publishes waiting for a send, in call order. */
  #queue: QueuedRecord[] = [];
  /** A send is in flight (the drain loop runs). */
  #sending = false;
  /** The drain is scheduled for the end of this turn. */
  #scheduled = false;
  readonly #drainNow = (): void => {
    this.#scheduled = false;
    void this.#drain();
  };

  constructor(options: KafkaDriverOptions = {}) {
    super();
    this.#options = options;
    this.capabilities = {
      receiverCount: false,
      durable: options.durable === true,
      perChannelSubscriptions: false,
      sharded: false,
    };
    this.#topic = options.topic ?? 'backplane';
    this.#brokers = brokerList(options.brokers);
    this.#client = createClient(options, {
      brokers: this.#brokers,
      acks: options.acks ?? (options.durable === true ? -1 : 1),
      ...(options.sasl && { sasl: options.sasl }),
      ...(options.tls && { tls: options.tls === true ? {} : options.tls }),
    });
    this.#sessions = new SessionTopic(this.#client, this.#topic, options.sessions);
  }

  protected async doConnect(): Promise<void> {
    const timeout = this.#options.connectTimeout ?? 30_000;
    const deadline = Date.now() + timeout;
    const expired = new Error(`timed out after ${timeout} ms`);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(expired), timeout);
    });
    timedOut.catch(() => {}); // it may fire while no race is listening
    try {
      // A broker that refuses connections is retried until the deadline (it may be starting up).
      for (let attempt = 0; ; attempt++) {
        try {
          await Promise.race([this.#open(), timedOut]);
          break;
        } catch (error) {
          const wait = backoffDelay(attempt, { initialDelay: 200, maxDelay: 2_000 });
          // Refused credentials or certificates do not get better by waiting.
          const final =
            error === expired || error === this.#refused || error instanceof KafkaAuthenticationError;
          if (final || this.closed || Date.now() + wait >= deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
    } catch (cause) {
      await this.#client.close().catch(() => {});
      if (cause === this.#refused || cause instanceof KafkaAuthenticationError) throw cause;
      throw new BrokerError(`Could not connect to Kafka (${this.#brokers.join(',')}) within ${timeout} ms.`, {
        cause,
      });
    } finally {
      clearTimeout(timer);
    }
    this.setState({ type: 'connected' });
  }

  /**
   * Creates the topic if missing (replicated after the cluster's size), checks an existing one's replicas,
   * and starts reading it from its end.
   */
  async #open(): Promise<void> {
    const explicit = this.#options.replicationFactor;
    const replicationFactor = explicit ?? Math.min(3, Math.max(1, await this.#client.clusterSize()));
    const minInsync = this.#options.minInsyncReplicas ?? (replicationFactor >= 3 ? 2 : 1);
    const topic = await this.#client.ensureTopic(this.#topic, {
      partitions: this.#options.partitions ?? 1,
      replicationFactor,
      config: { 'min.insync.replicas': String(Math.min(minInsync, replicationFactor)) },
    });
    if (
      topic.replicationFactor < replicationFactor &&
      (this.capabilities.durable || explicit !== undefined)
    ) {
      this.#refused = new BrokerError(
        `Kafka topic '${this.#topic}' has ${topic.replicationFactor} replica(s) per partition, fewer than the ` +
          `${replicationFactor} wanted (${explicit === undefined ? 'min(3, cluster size)' : 'replicationFactor'}): ` +
          'a broker that dies takes its partitions with it. Recreate the topic, or set replicationFactor ' +
          `to ${topic.replicationFactor} to accept that.`,
      );
      throw this.#refused;
    }
    this.#partitions = topic.partitions;
    if (this.#sessions.supported) {
      // The session store's topic: one partition (a small map), replicated like the main topic.
      await this.#client.ensureTopic(this.#sessions.topic, {
        partitions: 1,
        replicationFactor,
        config: {
          'min.insync.replicas': String(Math.min(minInsync, replicationFactor)),
          ...this.#sessions.config,
        },
      });
      await this.#sessions.start();
    }
    const durable = this.capabilities.durable;
    await this.#client.consume(
      this.#topic,
      durable
        ? (record) => this.onMessage(record.key, record.value, `${record.partition}:${record.offset}`)
        : (record) => this.onMessage(record.key, record.value),
      (up, error) =>
        this.setState(up ? { type: 'connected' } : { type: 'disconnected', ...(error && { error }) }),
    );
  }

  protected async doClose(): Promise<void> {
    // What was published this turn (a goodbye, say) is handed to the client before it closes.
    if (this.#scheduled) this.#drainNow();
    this.#sessions.close();
    await this.#client.close();
  }

  protected doPublish(channel: string, payload: Uint8Array): Promise<undefined> {
    return new Promise((resolve, reject) => {
      this.#queue.push({
        record: { key: channel, value: payload, partition: this.#partitionOf(channel) },
        resolve,
        reject,
      });
      // While a send is in flight, the queue goes out when it returns; else at the end of this turn.
      if (this.#sending || this.#scheduled) return;
      this.#scheduled = true;
      setImmediate(this.#drainNow);
    });
  }

  /** Durable mode: the topic is the log, so a durable publish is a publish (its position comes with it). */
  publishDurable(channel: string, payload: Uint8Array): Promise<undefined> {
    if (!this.capabilities.durable) return Promise.reject(new BrokerError('Durable mode is off.'));
    return this.publish(channel, payload) as Promise<undefined>;
  }

  /**
   * Durable mode: the channel's records after `after` (`partition:offset`), read back from its partition.
   * Incomplete when retention deleted records after `after` (judged per partition: conservative when
   * partitions hold several channels).
   */
  async readLog(
    channel: string,
    after: string,
    limit: number,
  ): Promise<{ entries: LogEntry[]; complete: boolean }> {
    const partition = this.#partitionOf(channel);
    const from = nextOffset(after, partition);
    try {
      const read = await this.#client.read(this.#topic, partition, from.toString(), channel, limit);
      const entries = read.records.map((r) => ({ position: `${partition}:${r.offset}`, payload: r.value }));
      return { entries, complete: BigInt(read.startOffset) <= from };
    } catch (cause) {
      throw new BrokerError(`Reading the log of '${channel}' failed.`, { cause });
    }
  }

  /** Durable mode: the last record of the channel's partition this server has read (later ones come live). */
  async logPosition(channel: string): Promise<string> {
    const partition = this.#partitionOf(channel);
    const next = this.#client.position(partition);
    return `${partition}:${next === undefined ? -1n : BigInt(next) - 1n}`;
  }

  /**
   * Durable mode: orders positions (`partition:offset`). In one partition, by offset; two partitions cannot
   * be ordered (0). With one partition (the default) every channel's entries are ordered.
   */
  comparePositions(_channelA: string, a: string, _channelB: string, b: string): number {
    const [x, y] = [parsePosition(a), parsePosition(b)];
    if (x.partition !== y.partition) return 0;
    return x.offset === y.offset ? 0 : x.offset < y.offset ? -1 : 1;
  }

  /** Session store: writes the record (with its deadline) to the sessions topic. */
  putRecord(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    return this.#sessions.put(key, value, ttlMs);
  }

  /** Session store: the record under `key`, once this server has read the sessions topic up to its end. */
  getRecord(key: string): Promise<Uint8Array | undefined> {
    return this.#sessions.get(key);
  }

  /** Session store: writes a tombstone for `key` to the sessions topic. */
  deleteRecord(key: string): Promise<void> {
    return this.#sessions.delete(key);
  }

  /** A channel always goes to the same partition (FNV-1a of its UTF-16 code units), so it keeps its order. */
  #partitionOf(channel: string): number {
    if (this.#partitions <= 1) return 0;
    let hash = 0x811c9dc5;
    for (let i = 0; i < channel.length; i++) hash = Math.imul(hash ^ channel.charCodeAt(i), 0x01000193);
    return (hash >>> 0) % this.#partitions;
  }

  // Receiver-side filtering: every message of the topic arrives; the base keeps subscribed channels only.
  protected async doSubscribe(): Promise<void> {}
  protected async doUnsubscribe(): Promise<void> {}

  /** Sends queued publishes in order; what queues up during a send goes out as the next batch. */
  async #drain(): Promise<void> {
    if (this.#sending) return;
    this.#sending = true;
    try {
      while (this.#queue.length > 0) {
        const batch =
          this.#queue.length <= MAX_RECORDS_PER_SEND
            ? this.#queue
            : this.#queue.splice(0, MAX_RECORDS_PER_SEND);
        if (batch === this.#queue) this.#queue = [];
        const records = new Array<KafkaRecord>(batch.length);
        for (let i = 0; i < batch.length; i++) records[i] = batch[i]!.record;
        try {
          await this.#client.produce(this.#topic, records);
        } catch (cause) {
          // What was queued behind the failed send fails with it, unsent: sent now, it would overtake the
          // failed records (which core's outbox retries, in call order, with everything after them).
          const failed = [...batch, ...this.#queue];
          this.#queue = [];
          for (const queued of failed)
            queued.reject(
              new BrokerError(`Kafka produce to '${this.#topic}' failed (channel '${queued.record.key}').`, {
                cause,
              }),
            );
          continue;
        }
        for (const queued of batch) queued.resolve(undefined);
      }
    } finally {
      this.#sending = false;
    }
  }
}

/** A publish waiting for its send, and how to settle its caller's promise. */
interface QueuedRecord {
  readonly record: KafkaRecord;
  readonly resolve: (value: undefined) => void;
  readonly reject: (error: Error) => void;
}

/** The client `options.client` asks for, built from the resolved settings. */
function createClient(options: KafkaDriverOptions, config: KafkaClientConfig): KafkaClient {
  const client = options.client ?? DEFAULT_KAFKA_CLIENT;
  if (typeof client === 'function') return client(config);
  if (typeof client === 'object') return client;
  if (client === 'platformatic') return new PlatformaticClient(config);
  if (client === 'kafkajs')
    return new KafkajsClient({
      ...config,
      brokers: [...config.brokers],
      ...(options.kafkajs && { config: options.kafkajs }),
    });
  throw new InvalidArgumentError(
    `Unknown Kafka client '${String(client)}' (expected platformatic or kafkajs).`,
  );
}

/** `brokers` as a list: a comma-separated string is split (blanks around entries are dropped). */
function brokerList(brokers: KafkaDriverOptions['brokers']): string[] {
  const list = typeof brokers === 'string' ? brokers.split(',') : [...(brokers ?? ['127.0.0.1:9092'])];
  const trimmed = list.map((b) => b.trim()).filter((b) => b.length > 0);
  return trimmed.length > 0 ? trimmed : ['127.0.0.1:9092'];
}

/** The offset after a position `partition:offset`; core's "before everything" (`0-0`) reads from the start. */
function nextOffset(position: string, partition: number): bigint {
  const match = /^(\d+):(-?\d+)$/.exec(position);
  if (!match || Number(match[1]) !== partition) return 0n;
  return BigInt(match[2]!) + 1n;
}

/**
 * A position `partition:offset` as numbers; core's "before everything" (`0-0`) is before the first offset
 * of partition 0 (with one partition, before everything).
 */
function parsePosition(position: string): { partition: number; offset: bigint } {
  const match = /^(\d+):(-?\d+)$/.exec(position);
  if (match) return { partition: Number(match[1]), offset: BigInt(match[2]!) };
  return { partition: 0, offset: -1n };
}

/** Creates a Kafka driver (see {@link KafkaDriverOptions}). */
export function createKafkaDriver(options?: KafkaDriverOptions): KafkaDriver {
  return new KafkaDriver(options);
}
