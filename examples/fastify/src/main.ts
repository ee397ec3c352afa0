import { createMemoryDriver } from '@backplane/memory';
import { createRedisDriver } from '@backplane/redis';
import { startChatApp } from './app.js';

// REDIS_URL set: nodes in separate processes share Redis. Unset: the in-process memory driver (one node).
const redisUrl = process.env.REDIS_URL;
const app = await startChatApp({
  driver: redisUrl ? createRedisDriver({ url: redisUrl }) : createMemoryDriver(),
  port: Number(process.env.PORT ?? 3000),
  host: process.env.HOST ?? '127.0.0.1',
  ...(process.env.TOKEN_SECRET && { tokenSecret: process.env.TOKEN_SECRET }),
});
console.log(`listening on ${app.url} (hub: ${app.url}/chat, backplane: ${redisUrl ? 'redis' : 'memory'})`);

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    void app.close().then(() => process.exit(0));
  });
