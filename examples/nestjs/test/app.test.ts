import type { Driver, Logger } from '@backplane/core';
import { createMemoryDriver, MemoryBus } from '@backplane/memory';
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
  const app = await startChatApp({
    driver,
    port: 0,
    tokenSecret: TOKEN_SECRET,
    logger: quiet,
    nestLogs: false,
  });
  running.push(app);
  return app;
}

describe('nestjs example', () => {
  it('nestjs example - Nest keeps its own routes next to the hub on its HTTP server', async () => {
    const app = await node(createMemoryDriver({ bus: new MemoryBus() }));
    const health = await fetch(`${app.url}/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', node: app.nodeId, connections: 0 });
    expect((await fetch(`${app.url}/nowhere`)).status).toBe(404); // Nest's own 404
    expect((await post(`${app.url}/api/messages`, { user: 'api' })).status).toBe(400);

    const client = await connect(`${app.url}/chat`);
    expect(await (await fetch(`${app.url}/api/health`)).json()).toMatchObject({ connections: 1 });
    const received = nextMessage(client);
    await client.invoke('SendMessage', 'ada', 'hello');
    expect(await received).toEqual(['ada', 'hello']);
  });

  it('nestjs example - the controller on one node reaches a client of another (memory driver)', async () => {
    const bus = new MemoryBus();
    const [a, b] = await Promise.all([node(createMemoryDriver({ bus })), node(createMemoryDriver({ bus }))]);
    const onA = await connect(`${a.url}/chat`);
    const received = nextMessage(onA);
    const response = await post(`${b.url}/api/messages`, { user: 'api', message: 'from node B' });
    expect(response.status).toBe(202);
    expect(await received).toEqual(['api', 'from node B']);
  });

  it('nestjs example - a group send from another node reaches only the members', async () => {
    const bus = new MemoryBus();
    const [a, b] = await Promise.all([node(createMemoryDriver({ bus })), node(createMemoryDriver({ bus }))]);
    const member = await connect(`${a.url}/chat`);
    const outsider = await connect(`${a.url}/chat`);
    await member.invoke('JoinGroup', 'room');
    const received = nextMessage(member);
    expect((await post(`${b.url}/api/messages`, { message: 'to the room', group: 'room' })).status).toBe(202);
    expect(await received).toEqual(['api', 'to the room']);
    await nothing(outsider);
  });

  it('nestjs example - shutdown closes the hub before the HTTP server, then leaves the backplane', async () => {
    const bus = new MemoryBus();
    const app = await startChatApp({
      driver: createMemoryDriver({ bus }),
      port: 0,
      logger: quiet,
      nestLogs: false,
    });
    const client = await connect(`${app.url}/chat`);
    const closed = new Promise<Error | undefined>((resolve) => client.onclose(resolve));
    expect(bus.channels()).not.toEqual([]);
    await app.close(); // hangs if the hub's connections held the HTTP server open
    expect(await closed).toBeUndefined(); // a Close allowing reconnect, not a dropped socket
    expect(bus.channels()).toEqual([]); // the lifetime manager closed: nothing subscribed
  });
});
