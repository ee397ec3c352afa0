import { type KafkaBrokerHandle, runDurableSuite, startKafka } from '@backplane/testkit';
import { KafkaDriver } from '../src/index.js';

// The topic is the log: its retention is per topic (age, bytes), never per channel, so the cases that
// trim one channel's log do not apply.
runDurableSuite(
  'kafka',
  async () => {
    const kafka: KafkaBrokerHandle = await startKafka();
    return {
      createDriver: () => new KafkaDriver({ brokers: [kafka.bootstrap], topic: 'durable', durable: true }),
      teardown: () => kafka.stop(),
    };
  },
  { trimsPerChannel: false },
);
