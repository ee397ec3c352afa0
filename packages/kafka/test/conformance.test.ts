import { type KafkaBrokerHandle, runConformanceSuite, startKafka } from '@backplane/testkit';
import { KafkaTransport } from '../src/index.js';

runConformanceSuite('kafka', async () => {
  const kafka: KafkaBrokerHandle = await startKafka();
  return {
    createTransport: () => new KafkaTransport({ brokers: [kafka.bootstrap], topic: 'conformance' }),
    teardown: () => kafka.stop(),
  };
});
