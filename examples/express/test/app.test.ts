import type { Driver, Logger } from '@backplane/core';
import { createMemoryDriver, MemoryBus } from '@backplane/memory';
import { createRedisDriver } from '@backplane/redis';
import { startRedis } from '@backplane/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChatApp, startChatApp } from '../src/app.js';
import { connect, nextMessage, nothing, post } from './clients.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const TOKEN_SECRET = 'example-shared-secret';

const running: ChatApp[] = [];
afterEach(async () => {
  await Promise.allSettled(running.splice(0).map((app) => app.close()));
});

/** Starts a node of the example on a random port. */
async function node(driver: Driver): Promise<ChatApp> {
  const app = await startChatApp({ driver, port: 0, tokenSecret: TOKEN_SECRET, logger: quiet });
  running.push(app);
  return app;
}

describe('express example', () => {
  it('express example - Express keeps its own routes next to the hub on one http.Server', async () => {
    const app = await node(createMemoryDriver({ bus: new MemoryBus() }));
    const health = await fetch(`${app.url}/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', node: app.nodeId, connections: 0 });
    expect((await fetch(`${app.url}/nowhere`)).status).toBe(404); // Express's own 404
    expect((await post(`${app.url}/api/messages`, { user: 'api' })).status).toBe(400);

    const client = await connect(`${app.url}/chat`);
    expect(await (await fetch(`${app.url}/api/health`)).json()).toMatchObject({ connections: 1 });
    const received = nextMessage(client);
    await client.invoke('SendMessage', 'ada', 'hello');
    expect(await received).toEqual(['ada', 'hello']);
  });

  it('express example - POST /api/messages on one node reaches a client of another (memory driver)', async () => {
    const bus = new MemoryBus();
    const [a, b] = await Promise.all([node(createMemoryDriver({ bus })), node(createMemoryDriver({ bus }))]);
    const onA = await connect(`${a.url}/chat`);
    const received = nextMessage(onA);
    const response = await post(`${b.url}/api/messages`, { user: 'api', message: 'from node B' });
    expect(response.status).toBe(202);
    expect(await received).toEqual(['api', 'from node B']);
  });

  it('express example - a group send crosses nodes through Redis, and only members get it', async () => {
    const redis = await startRedis();
    try {
      const [a, b] = await Promise.all([
        node(createRedisDriver({ url: redis.url })),
        node(createRedisDriver({ url: redis.url })),
      ]);
      const member = await connect(`${a.url}/chat`);
      const outsider = await connect(`${a.url}/chat`);
      await member.invoke('JoinGroup', 'room');
      const received = nextMessage(member);
      const response = await post(`${b.url}/api/messages`, {
        user: 'api',
        message: 'to the room',
        group: 'room',
      });
      expect(response.status).toBe(202);
      expect(await received).toEqual(['api', 'to the room']);
      await nothing(outsider);

      // And a hub call on node A reaches a client of node B.
      const onB = await connect(`${b.url}/chat`);
      const fromA = nextMessage(onB);
      await member.invoke('SendMessage', 'ada', 'hello from A');
      expect(await fromA).toEqual(['ada', 'hello from A']);
    } finally {
      await Promise.allSettled(running.splice(0).map((app) => app.close()));
      await redis.stop();
    }
  });
});
