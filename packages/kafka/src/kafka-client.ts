/**
 * The small slice of a Kafka client that the driver needs. kafkajs implements it (`kafkajs-client.ts`);
 * a maintained client such as `@platformatic/kafka` can implement it too, without touching the driver.
 */
export interface KafkaRecord {
  /** The backplane channel (also the partitioning key, so a channel keeps its order). */
  readonly key: string;
  readonly value: Uint8Array;
}

export interface KafkaClient {
  /** Creates the topic if it does not exist. */
  ensureTopic(topic: string, partitions: number, replicationFactor: number): Promise<void>;
  /** Sends records in order, as one request where possible. */
  produce(topic: string, records: readonly KafkaRecord[]): Promise<void>;
  /**
   * Reads every partition of `topic` from its current end (history is never re-read), calling `onRecord`
   * in partition order. Resolves once the reader is positioned, so anything produced after that arrives.
   */
  consume(
    topic: string,
    onRecord: (record: KafkaRecord) => void,
    onState: (up: boolean, error?: Error) => void,
  ): Promise<void>;
  /** Stops reading, cleans up (a consumer group made for this instance is deleted) and disconnects. */
  close(): Promise<void>;
}
