/**
 * The small slice of a Kafka client that the driver needs. kafkajs implements it (`kafkajs-client.ts`);
 * a maintained client such as `@platformatic/kafka` can implement it too, without touching the driver.
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

/** What the Kafka driver needs from a Kafka client library (`KafkajsClient` implements it on kafkajs). */
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
  /** Stops reading, cleans up (a consumer group made for this instance is deleted) and disconnects. */
  close(): Promise<void>;
}
