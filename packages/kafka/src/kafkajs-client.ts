import { randomBytes } from 'node:crypto';
import { type Consumer, Kafka, type KafkaConfig, logLevel, type Producer } from 'kafkajs';
import type { KafkaClient, KafkaRecord } from './kafka-client.js';

export interface KafkajsClientOptions {
  /** @default ['127.0.0.1:9092'] */
  brokers: string[];
  /** Extra kafkajs settings (SASL, SSL, clientId, retry, …). */
  config?: Omit<KafkaConfig, 'brokers'>;
}

/**
 * kafkajs behind {@link KafkaClient}. Tuned for latency: the producer sends at once with `acks: 1` (leader
 * only) and one request in flight (order); the consumer asks for `minBytes: 1` and waits at most 10 ms
 * per fetch. Each instance joins its own consumer group (`backplane-<random>`), so every server gets every
 * message; the group is deleted on close.
 */
export class KafkajsClient implements KafkaClient {
  readonly #kafka: Kafka;
  readonly #groupId = `backplane-${randomBytes(6).toString('hex')}`;
  #producer: Producer | undefined;
  #consumer: Consumer | undefined;

  constructor(options: KafkajsClientOptions) {
    this.#kafka = new Kafka({
      clientId: 'backplane',
      logLevel: logLevel.NOTHING,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2_000 },
      ...options.config,
      brokers: options.brokers,
    });
  }

  async ensureTopic(topic: string, partitions: number, replicationFactor: number): Promise<void> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      const existing = await admin.listTopics();
      if (!existing.includes(topic)) {
        await admin.createTopics({
          topics: [{ topic, numPartitions: partitions, replicationFactor }],
          waitForLeaders: true,
        });
      }
    } finally {
      await admin.disconnect();
    }
  }

  async produce(topic: string, records: readonly KafkaRecord[]): Promise<void> {
    this.#producer ??= this.#kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 1 });
    await this.#producer.connect();
    await this.#producer.send({
      topic,
      acks: 1,
      messages: records.map((r) => ({
        key: r.key,
        value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
      })),
    });
  }

  async consume(
    topic: string,
    onRecord: (record: KafkaRecord) => void,
    onState: (up: boolean, error?: Error) => void,
  ): Promise<void> {
    const admin = this.#kafka.admin();
    await admin.connect();
    // Where "now" is, before joining: everything produced after this point is read, nothing before it.
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    const consumer = this.#kafka.consumer({
      groupId: this.#groupId,
      maxWaitTimeInMs: 10,
      minBytes: 1,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 2_000 },
    });
    this.#consumer = consumer;
    const joined = new Promise<void>((resolve) => {
      consumer.on(consumer.events.GROUP_JOIN, () => resolve());
    });
    consumer.on(consumer.events.CRASH, (event) => onState(false, event.payload.error));
    consumer.on(consumer.events.DISCONNECT, () => onState(false));
    consumer.on(consumer.events.FETCH_START, () => onState(true));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: false });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.key && message.value) onRecord({ key: message.key.toString(), value: message.value });
      },
    });
    await joined;
    for (const { partition, offset } of ends) consumer.seek({ topic, partition, offset });
  }

  async close(): Promise<void> {
    const consumer = this.#consumer;
    this.#consumer = undefined;
    await Promise.allSettled([consumer?.disconnect(), this.#producer?.disconnect()]);
    if (!consumer) return;
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      await admin.deleteGroups([this.#groupId]);
    } catch {
      // the broker may be gone; an empty group expires on its own
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
}
