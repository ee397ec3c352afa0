// Driver
export type { KafkaTransportOptions } from './kafka-transport.js';
export { createKafkaTransport, KafkaTransport } from './kafka-transport.js';

// Client interface (plug in another Kafka client)
export type { ConsumedRecord, KafkaClient, KafkaReadResult, KafkaRecord } from './kafka-client.js';
export type { KafkajsClientOptions } from './kafkajs-client.js';
export { KafkajsClient } from './kafkajs-client.js';
