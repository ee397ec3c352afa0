import { type NatsServerHandle, runConformanceSuite, startNats } from '@backplane/testkit';
import { NatsDriver } from '../src/index.js';

runConformanceSuite('nats', async () => {
  const nats: NatsServerHandle = await startNats();
  return {
    createDriver: () => new NatsDriver({ servers: nats.url }),
    teardown: () => nats.stop(),
  };
});
