import { type KafkaBrokerHandle, runConformanceSuite, startKafka } from '@backplane/testkit';
import { KafkaDriver } from '../src/index.js';
import { CLIENTS } from './clients.js';

for (const client of CLIENTS)
  runConformanceSuite(`kafka, ${client}`, async () => {
    const kafka: KafkaBrokerHandle = await startKafka();
    return {
      createDriver: () => new KafkaDriver({ brokers: [kafka.bootstrap], topic: 'conformance', client }),
      teardown: () => kafka.stop(),
    };
  });
