import { type RedisServerHandle, runSessionSuite, startRedis } from '@backplane/testkit';
import { afterAll } from 'vitest';
import { RedisDriver } from '../src/index.js';

// One Redis for the file: each suite's cases use their own prefix on it.
let redis: Promise<RedisServerHandle> | undefined;
const server = () => {
  redis ??= startRedis();
  return redis;
};
afterAll(async () => {
  await (await redis)?.stop();
}, 30_000);

runSessionSuite('redis', async () => {
  const { url } = await server();
  return { createDriver: () => new RedisDriver({ url }), teardown: async () => {} };
});

runSessionSuite(
  'redis',
  async () => {
    const { url } = await server();
    return {
      createDriver: () => new RedisDriver({ url, durable: { maxLength: 10_000 } }),
      teardown: async () => {},
    };
  },
  { durable: true },
);
