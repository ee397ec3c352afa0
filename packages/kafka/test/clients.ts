import type { KafkaClientName } from '../src/index.js';

/**
 * The built-in clients every Kafka test file runs against: the same cases, once per client.
 * `BACKPLANE_KAFKA_CLIENTS=platformatic` (comma-separated) narrows a local run to some of them.
 */
export const CLIENTS: readonly KafkaClientName[] = (
  process.env.BACKPLANE_KAFKA_CLIENTS?.split(',') ?? ['platformatic', 'kafkajs']
).map((c) => c.trim() as KafkaClientName);
