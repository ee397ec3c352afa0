import { backoffDelay, TransportBase, type TransportCapabilities, TransportError } from '@backplane/core';
import type { KafkaClient, KafkaRecord } from './kafka-client.js';
import { KafkajsClient, type KafkajsClientOptions } from './kafkajs-client.js';

export interface KafkaTransportOptions {
  /** Broker addresses, `host:port`. @default ['127.0.0.1:9092'] */
  brokers?: string[];
  /** kafkajs settings (SASL, SSL, clientId, …) for the default client. */
  kafkajs?: KafkajsClientOptions['config'];
  /** Another client behind the {@link KafkaClient} interface; replaces kafkajs. */
  client?: KafkaClient;
  /**
   * The topic every server of one app reads and writes: one per app and hub (e.g. `myapp.chat`).
   * @default 'backplane'
   */
  topic?: string;
  /** Partitions when the topic is created. 1 keeps one total order; more spread load, order stays per channel. @default 1 */
  partitions?: number;
  /** Replication factor when the topic is created. @default 1 */
  replicationFactor?: number;
  /** How long the first `connect()` may take, in ms. @default 30_000 */
  connectTimeout?: number;
}

/**
 * The Kafka driver: one topic per app; every server reads every message from the current end (never the
 * history) and keeps the channels it subscribes to (receiver-side filtering, since Kafka has no cheap
 * per-channel subscriptions). Publishes are queued and sent in order, as batches while a send is in flight.
 */
export class KafkaTransport extends TransportBase {
  readonly name = 'kafka';
  readonly capabilities: TransportCapabilities = {
    receiverCount: false,
    durable: false,
    perChannelSubscriptions: false,
    sharded: false,
  };
  readonly #client: KafkaClient;
  readonly #topic: string;
  readonly #options: KafkaTransportOptions;
  #queue: Array<{ record: KafkaRecord; resolve: () => void; reject: (error: Error) => void }> = [];
  #sending = false;

  constructor(options: KafkaTransportOptions = {}) {
    super();
    this.#options = options;
    this.#topic = options.topic ?? 'backplane';
    this.#client =
      options.client ??
      new KafkajsClient({
        brokers: options.brokers ?? ['127.0.0.1:9092'],
        ...(options.kafkajs && { config: options.kafkajs }),
      });
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
          if (error === expired || this.closed || Date.now() + wait >= deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
    } catch (cause) {
      await this.#client.close().catch(() => {});
      throw new TransportError(
        `Could not connect to Kafka (${(this.#options.brokers ?? ['127.0.0.1:9092']).join(',')}) within ${timeout} ms.`,
        { cause },
      );
    } finally {
      clearTimeout(timer);
    }
    this.setState({ type: 'connected' });
  }

  /** Creates the topic if missing and starts reading it from its end. */
  async #open(): Promise<void> {
    await this.#client.ensureTopic(
      this.#topic,
      this.#options.partitions ?? 1,
      this.#options.replicationFactor ?? 1,
    );
    await this.#client.consume(
      this.#topic,
      (record) => this.onMessage(record.key, record.value),
      (up, error) =>
        this.setState(up ? { type: 'connected' } : { type: 'disconnected', ...(error && { error }) }),
    );
  }

  protected async doClose(): Promise<void> {
    await this.#client.close();
  }

  protected doPublish(channel: string, payload: Uint8Array): Promise<undefined> {
    return new Promise((resolve, reject) => {
      this.#queue.push({
        record: { key: channel, value: payload },
        resolve: () => resolve(undefined),
        reject,
      });
      void this.#drain();
    });
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
        const batch = this.#queue.splice(0, 500);
        try {
          await this.#client.produce(
            this.#topic,
            batch.map((b) => b.record),
          );
          for (const b of batch) b.resolve();
        } catch (cause) {
          const error = new TransportError(`Kafka produce to '${this.#topic}' failed.`, { cause });
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      this.#sending = false;
    }
  }
}

/** Creates a Kafka transport (see {@link KafkaTransportOptions}). */
export function createKafkaTransport(options?: KafkaTransportOptions): KafkaTransport {
  return new KafkaTransport(options);
}
