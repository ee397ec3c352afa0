// Driver
export type { KafkaClientName, KafkaDriverOptions } from './kafka-driver.js';
export { createKafkaDriver, DEFAULT_KAFKA_CLIENT, KafkaDriver } from './kafka-driver.js';

// URL forms (backplane serve --url)
export type { ParsedKafkaUrl } from './kafka-url.js';
export { kafkaOptionsFromUrl, parseKafkaUrl, redactKafkaUrl } from './kafka-url.js';

// Errors
export { KafkaAuthenticationError } from './errors.js';

// Client interface (plug in another Kafka client)
export type {
  ConsumedRecord,
  FollowedBatch,
  KafkaClient,
  KafkaClientConfig,
  KafkaClientFactory,
  KafkaReadResult,
  KafkaRecord,
  KafkaSaslOptions,
  KafkaTlsOptions,
  StoreRecord,
  TopicDescription,
  TopicSpec,
} from './kafka-client.js';
export type { KafkaSessionStoreOptions } from './session-topic.js';

// Built-in clients
export type { KafkajsClientOptions } from './kafkajs-client.js';
export { KafkajsClient } from './kafkajs-client.js';
export type { PlatformaticClientOptions } from './platformatic-client.js';
export { PlatformaticClient } from './platformatic-client.js';
