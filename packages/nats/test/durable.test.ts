import { type NatsServerHandle, runDurableSuite, startNats } from '@backplane/testkit';
import { NatsDriver } from '../src/index.js';

runDurableSuite('nats', async () => {
  const nats: NatsServerHandle = await startNats();
  return {
    createDriver: ({ maxLength }) => new NatsDriver({ servers: nats.url, durable: { maxLength } }),
    teardown: () => nats.stop(),
  };
});
