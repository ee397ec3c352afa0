import { type KafkaBrokerHandle, runSessionSuite, startKafka } from '@backplane/testkit';
import { afterAll } from 'vitest';
import { KafkaDriver } from '../src/index.js';
import { CLIENTS } from './clients.js';

// One broker for the file: every suite below uses its own topic on it.
let broker: Promise<KafkaBrokerHandle> | undefined;
const kafka = () => {
  broker ??= startKafka();
  return broker;
};
afterAll(async () => {
  await (await broker)?.stop();
}, 60_000);

for (const client of CLIENTS)
  for (const durable of [false, true])
    runSessionSuite(
      `kafka, ${client}`,
      async () => {
        const { bootstrap } = await kafka();
        const topic = `sessions-${client}${durable ? '-durable' : ''}`;
        return {
          createDriver: () => new KafkaDriver({ brokers: [bootstrap], topic, durable, client }),
          teardown: async () => {},
        };
      },
      { durable },
    );
