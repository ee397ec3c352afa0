import { type NatsServerHandle, runSessionSuite, startNats } from '@backplane/testkit';
import { afterAll } from 'vitest';
import { NatsDriver } from '../src/index.js';

// One NATS server for the file: each suite's cases use their own prefix on it.
let nats: Promise<NatsServerHandle> | undefined;
const server = () => {
  nats ??= startNats();
  return nats;
};
afterAll(async () => {
  await (await nats)?.stop();
}, 30_000);

runSessionSuite('nats', async () => {
  const { url } = await server();
  return { createDriver: () => new NatsDriver({ servers: url }), teardown: async () => {} };
});

runSessionSuite(
  'nats',
  async () => {
    const { url } = await server();
    return {
      createDriver: () => new NatsDriver({ servers: url, durable: { maxLength: 10_000 } }),
      teardown: async () => {},
    };
  },
  { durable: true },
);
