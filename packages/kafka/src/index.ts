// Driver
export type { KafkaDriverOptions } from './kafka-driver.js';
export { createKafkaDriver, KafkaDriver } from './kafka-driver.js';

// Client interface (plug in another Kafka client)
export type {
  ConsumedRecord,
  KafkaClient,
  KafkaReadResult,
  KafkaRecord,
  TopicDescription,
  TopicSpec,
} from './kafka-client.js';
export type { KafkajsClientOptions } from './kafkajs-client.js';
export { KafkajsClient } from './kafkajs-client.js';
