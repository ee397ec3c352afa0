/**
 * The small slice of a Kafka client that the driver needs. Two implementations ship:
 * `@platformatic/kafka` (`platformatic-client.ts`) and kafkajs (`kafkajs-client.ts`); any other client can
 * implement it too, without touching the driver (see the package README, "Another client").
 */
export interface KafkaRecord {
  /** The backplane channel. */
  readonly key: string;
  readonly value: Uint8Array;
  /** The partition to write to; the driver picks it from the channel, so a channel keeps its order. */
  readonly partition?: number;
}

/** A record as read back, with its place in the topic. */
export interface ConsumedRecord extends KafkaRecord {
  readonly partition: number;
  /** The record's offset in its partition (a decimal string: offsets are 64-bit). */
  readonly offset: string;
}

/** Session store: a record of the store's topic; a `null` value is a tombstone (the key deleted). */
export interface StoreRecord {
  readonly key: string;
  readonly value: Uint8Array | null;
}

/** Session store: what {@link KafkaClient.follow} read from one partition in one fetch. */
export interface FollowedBatch {
  readonly partition: number;
  /** The records read, oldest first, tombstones included. */
  readonly records: readonly StoreRecord[];
  /** The next offset to read from the partition: everything before it has been delivered. */
  readonly next: string;
}

/** What {@link KafkaClient.read} found in one partition. */
export interface KafkaReadResult {
  /** Records with the requested key, oldest first. */
  readonly records: ConsumedRecord[];
  /** The partition's first offset still stored (the log start): anything before it was deleted. */
  readonly startOffset: string;
}

/** How to create a topic that does not exist yet. */
export interface TopicSpec {
  readonly partitions: number;
  readonly replicationFactor: number;
  /** Topic-level configuration, e.g. `min.insync.replicas`. */
  readonly config?: Readonly<Record<string, string>>;
}

/** A topic as it is on the cluster (created now, or found). */
export interface TopicDescription {
  readonly partitions: number;
  /** The replica count of its partitions (the smallest, should they differ). */
  readonly replicationFactor: number;
  /** False when the topic existed already (then `spec` was not applied). */
  readonly created: boolean;
}

/** SASL authentication to every broker (over TLS with `tls`, else in clear: `SASL_PLAINTEXT`). */
export interface KafkaSaslOptions {
  /** `plain` sends the password as is (use TLS); the SCRAM mechanisms never send it. */
  readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  readonly username: string;
  readonly password: string;
}

/**
 * TLS to every broker. Certificates and keys are PEM text (read the files yourself), as Node's
 * `tls.connect` takes them.
 */
export interface KafkaTlsOptions {
  /** CA certificates the brokers' certificates must chain to. @default Node's bundled root CAs */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /** Client certificate chain, for brokers that require mutual TLS (`ssl.client.auth=required`). */
  readonly cert?: string | Buffer;
  /** The client certificate's private key. */
  readonly key?: string | Buffer;
  /** Passphrase of an encrypted `key`. */
  readonly passphrase?: string;
  /**
   * Refuse a broker whose certificate does not verify (unknown CA, wrong host name). `false` accepts any
   * certificate, which gives encryption without knowing who answers: for tests only.
   * @default true
   */
  readonly rejectUnauthorized?: boolean;
  /** The name the brokers' certificates are checked against (and sent as SNI). @default each broker's host */
  readonly servername?: string;
}

/** What a client is built from: the driver resolves it from its own options (see `KafkaDriverOptions`). */
export interface KafkaClientConfig {
  /** Bootstrap brokers, `host:port` each. */
  readonly brokers: readonly string[];
  /** Producer acknowledgement: `1` the partition leader, `-1` every in-sync replica. */
  readonly acks: 1 | -1;
  /** SASL credentials; absent: none. */
  readonly sasl?: KafkaSaslOptions;
  /** TLS to the brokers; absent: plain TCP. */
  readonly tls?: KafkaTlsOptions;
}

/** Builds a client from the driver's resolved settings: how another Kafka client is plugged in. */
export type KafkaClientFactory = (config: KafkaClientConfig) => KafkaClient;

/**
 * What the Kafka driver needs from a Kafka client library (`PlatformaticClient` and `KafkajsClient`
 * implement it).
 */
export interface KafkaClient {
  /** How many brokers the cluster has now (from cluster metadata). */
  clusterSize(): Promise<number>;
  /** Creates the topic with `spec` if it does not exist, and describes it as it is. */
  ensureTopic(topic: string, spec: TopicSpec): Promise<TopicDescription>;
  /** Sends records in order, as one request where possible. */
  produce(topic: string, records: readonly KafkaRecord[]): Promise<void>;
  /**
   * Reads every partition of `topic` from its current end (history is never re-read), calling `onRecord`
   * in partition order. Resolves once the reader is positioned, so anything produced after that arrives.
   */
  consume(
    topic: string,
    onRecord: (record: ConsumedRecord) => void,
    onState: (up: boolean, error?: Error) => void,
  ): Promise<void>;
  /** The next offset `consume` will deliver from `partition`, once it is positioned. */
  position(partition: number): string | undefined;
  /**
   * Durable mode: the records with `key` in one partition from `offset` (inclusive) up to the partition's
   * end when the call started, at most `max` of them.
   */
  read(topic: string, partition: number, offset: string, key: string, max: number): Promise<KafkaReadResult>;
  /**
   * Session store: writes `records` to `topic` (a compacted topic), a `null` value as a tombstone. Without
   * it (and {@link KafkaClient.follow}, {@link KafkaClient.endOffsets}) the driver's session store refuses
   * every call.
   */
  put?(topic: string, records: readonly StoreRecord[]): Promise<void>;
  /**
   * Session store: reads every partition of `topic` from its first offset, tombstones included, until the
   * client closes, handing each fetch's records to `onBatch` (also when a fetch finds none, so that the
   * caller sees the position). Resolves once reading has started; never re-reads what it delivered.
   */
  follow?(topic: string, onBatch: (batch: FollowedBatch) => void): Promise<void>;
  /** Session store: the end offset (the next offset to be written) of each partition of `topic`, by index. */
  endOffsets?(topic: string): Promise<string[]>;
  /**
   * Stops reading, cleans up (a consumer group made for this instance is deleted) and disconnects.
   * Credentials the brokers refuse (SASL) and broker certificates that do not verify (TLS) must reject the
   * calls above with `KafkaAuthenticationError`, which the driver does not retry.
   */
  close(): Promise<void>;
}
