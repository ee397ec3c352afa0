import { type KafkaBrokerHandle, runConformanceSuite, startKafka } from '@backplane/testkit';
import { KafkaDriver } from '../src/index.js';

runConformanceSuite('kafka', async () => {
  const kafka: KafkaBrokerHandle = await startKafka();
  return {
    createDriver: () => new KafkaDriver({ brokers: [kafka.bootstrap], topic: 'conformance' }),
    teardown: () => kafka.stop(),
  };
});
