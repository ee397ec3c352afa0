import { type NatsServerHandle, runDurableSuite, startNats } from '@backplane/testkit';
import { NatsTransport } from '../src/index.js';

runDurableSuite('nats', async () => {
  const nats: NatsServerHandle = await startNats();
  return {
    createTransport: ({ maxLength }) => new NatsTransport({ servers: nats.url, durable: { maxLength } }),
    teardown: () => nats.stop(),
  };
});
