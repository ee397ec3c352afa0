import { InvalidArgumentError } from '@backplane/core';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_KAFKA_CLIENT,
  type KafkaClient,
  type KafkaClientConfig,
  KafkaDriver,
  type KafkaDriverOptions,
} from '../src/index.js';

/** A client that records nothing and is never connected: only how it was built matters here. */
const inert = {} as KafkaClient;

describe('kafka client option', () => {
  it('client option - a factory gets the resolved brokers, acks, SASL and TLS (tls: true is TLS with defaults)', () => {
    const configs: KafkaClientConfig[] = [];
    const factory = (config: KafkaClientConfig) => {
      configs.push(config);
      return inert;
    };
    const sasl = { mechanism: 'scram-sha-256', username: 'u', password: 'p' } as const;
    new KafkaDriver({ brokers: 'a:1, b:2', client: factory, sasl, tls: true, durable: true });
    new KafkaDriver({ client: factory, tls: { ca: 'PEM', rejectUnauthorized: false } });
    expect(configs).toEqual([
      { brokers: ['a:1', 'b:2'], acks: -1, sasl, tls: {} },
      { brokers: ['127.0.0.1:9092'], acks: 1, tls: { ca: 'PEM', rejectUnauthorized: false } },
    ]);
  });

  it('client option - @platformatic/kafka is the default; an unknown name is refused with InvalidArgumentError', () => {
    expect(DEFAULT_KAFKA_CLIENT).toBe('platformatic');
    const unknown = { client: 'rdkafka' } as unknown as KafkaDriverOptions;
    expect(() => new KafkaDriver(unknown)).toThrow(InvalidArgumentError);
    expect(() => new KafkaDriver(unknown)).toThrow(/Unknown Kafka client 'rdkafka'/);
  });
});
