import { BrokerError, InvalidArgumentError } from '@backplane/core';
import {
  type KafkaBrokerHandle,
  runPositionOrderSuite,
  runSessionStoreSuite,
  startKafka,
} from '@backplane/testkit';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaDriver } from '../src/index.js';
import { CLIENTS } from './clients.js';

// One broker for the whole file: every suite below uses its own topics on it.
let broker: Promise<KafkaBrokerHandle> | undefined;
const kafka = () => {
  broker ??= startKafka();
  return broker;
};
afterAll(async () => {
  await (await broker)?.stop();
}, 60_000);
const shared = async () => ({ bootstrap: (await kafka()).bootstrap, teardown: async () => {} });

for (const client of CLIENTS) {
  runSessionStoreSuite(`kafka, ${client}`, async () => {
    const { bootstrap, teardown } = await shared();
    return {
      createDriver: () => new KafkaDriver({ brokers: [bootstrap], topic: `store-${client}`, client }),
      teardown,
    };
  });

  // A single-partition topic (the default): one offset space, so entries of any two channels are ordered.
  runPositionOrderSuite(`kafka, ${client}`, async () => {
    const { bootstrap, teardown } = await shared();
    return {
      createDriver: () =>
        new KafkaDriver({ brokers: [bootstrap], topic: `order-${client}`, durable: true, client }),
      teardown,
    };
  });
}

describe('kafka session store', () => {
  const open: KafkaDriver[] = [];
  afterAll(async () => {
    await Promise.allSettled(open.map((d) => d.close()));
  }, 60_000);
  async function driver(options: ConstructorParameters<typeof KafkaDriver>[0]) {
    const d = new KafkaDriver({ brokers: [(await kafka()).bootstrap], ...options });
    open.push(d);
    await d.connect();
    return d;
  }

  it.runIf(CLIENTS.length > 1)(
    'kafka session store - what one client writes the other reads, deletes included',
    async () => {
      const [a, b] = await Promise.all([
        driver({ topic: 'mixed', client: CLIENTS[0]! }),
        driver({ topic: 'mixed', client: CLIENTS[1]! }),
      ]);
      const key = 'app:chat:session:AAAAAAAAAAAAAAAAAAAAAA.node-1';
      await a.putRecord(key, new Uint8Array([1, 2, 3]), 60_000);
      expect(Uint8Array.from((await b.getRecord(key))!)).toEqual(new Uint8Array([1, 2, 3]));
      await b.deleteRecord(key);
      expect(await a.getRecord(key)).toBeUndefined();
    },
    120_000,
  );

  it('kafka session store - the topic is created compacted, one partition, next to the main topic', async () => {
    await driver({ topic: 'layout', client: CLIENTS[0]! });
    const admin = new Kafka({ brokers: [(await kafka()).bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: ['layout.sessions'] });
      expect(topics[0]?.partitions).toHaveLength(1);
      const configs = await admin.describeConfigs({
        resources: [{ type: 2, name: 'layout.sessions', configNames: ['cleanup.policy', 'retention.ms'] }],
        includeSynonyms: false,
      });
      const entries = Object.fromEntries(
        configs.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]),
      );
      expect(entries).toEqual({ 'cleanup.policy': 'compact,delete', 'retention.ms': '3600000' });
    } finally {
      await admin.disconnect();
    }
  }, 120_000);

  it('kafka session store - a TTL beyond the topic retention is refused; a closed driver rejects', async () => {
    const d = await driver({ topic: 'limits', client: CLIENTS[0]!, sessions: { ttl: 10_000 } });
    await expect(d.putRecord('k', new Uint8Array([1]), 20_000)).rejects.toBeInstanceOf(InvalidArgumentError);
    await d.close();
    await expect(d.getRecord('k')).rejects.toBeInstanceOf(BrokerError);
    await expect(d.putRecord('k', new Uint8Array([1]), 1_000)).rejects.toBeInstanceOf(BrokerError);
  }, 120_000);

  it('kafka session store - positions of two partitions compare as unknown; one partition by offset', () => {
    const d = new KafkaDriver({ brokers: ['127.0.0.1:1'] });
    expect(d.comparePositions('a', '0:5', 'b', '0:7')).toBe(-1);
    expect(d.comparePositions('a', '0:10', 'b', '0:7')).toBe(1);
    expect(d.comparePositions('a', '0:10', 'b', '1:7')).toBe(0);
    expect(d.comparePositions('a', '0-0', 'a', '0:0')).toBe(-1);
  });
});
