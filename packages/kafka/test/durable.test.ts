import { type KafkaBrokerHandle, runDurableSuite, startKafka } from '@backplane/testkit';
import { KafkaDriver } from '../src/index.js';
import { CLIENTS } from './clients.js';

// The topic is the log: its retention is per topic (age, bytes), never per channel, so the cases that
// trim one channel's log do not apply.
for (const client of CLIENTS)
  runDurableSuite(
    `kafka, ${client}`,
    async () => {
      const kafka: KafkaBrokerHandle = await startKafka();
      return {
        createDriver: () =>
          new KafkaDriver({ brokers: [kafka.bootstrap], topic: 'durable', durable: true, client }),
        teardown: () => kafka.stop(),
      };
    },
    { trimsPerChannel: false },
  );
