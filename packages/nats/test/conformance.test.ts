import { type NatsServerHandle, runConformanceSuite, startNats } from '@backplane/testkit';
import { NatsTransport } from '../src/index.js';

runConformanceSuite('nats', async () => {
  const nats: NatsServerHandle = await startNats();
  return {
    createTransport: () => new NatsTransport({ servers: nats.url }),
    teardown: () => nats.stop(),
  };
});
