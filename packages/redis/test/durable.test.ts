import { HubLifetimeManager } from '@backplane/core';
import {
  nextEvent,
  type RedisServerHandle,
  runDurableSuite,
  startRedis,
  startTcpProxy,
  TestClient,
  waitFor,
} from '@backplane/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisDriver } from '../src/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const WAIT_MS = 10_000;
let redis: RedisServerHandle;
beforeAll(async () => {
  redis = await startRedis();
}, 30_000);
afterAll(() => redis?.stop());

async function pair(maxLength: number) {
  const proxy = await startTcpProxy(redis.port);
  const prefix = `durable-${Math.random().toString(36).slice(2)}:`;
  const options = {
    prefix,
    logger: quiet,
    durable: true,
    liveness: { probeInterval: 100, probeTimeout: 200 },
  };
  const sender = new HubLifetimeManager({
    ...options,
    driver: new RedisDriver({ url: redis.url, durable: { maxLength } }),
  });
  const receiver = new HubLifetimeManager({
    ...options,
    driver: new RedisDriver({
      url: `redis://127.0.0.1:${proxy.port}`,
      durable: { maxLength },
      reconnect: { initialDelay: 50, maxDelay: 200 },
    }),
  });
  await Promise.all([sender.start(), receiver.start()]);
  const client = new TestClient({ connectionId: receiver.createConnectionId() });
  await receiver.onConnected(client);
  await sender.addToGroup(client.connectionId, 'orders');
  const close = async () => {
    await Promise.allSettled([sender.close(), receiver.close()]);
    await proxy.close();
  };
  return { proxy, sender, receiver, client, close };
}

describe('redis durable mode', () => {
  it('durable - a server cut off from Redis replays what it missed, in order, exactly once', async () => {
    const { proxy, sender, receiver, client, close } = await pair(10_000);
    try {
      await sender.sendGroup('orders', 'Hello', ['0']);
      expect((await client.readInvocation()).arguments).toEqual(['0']);
      const down = nextEvent(receiver, 'outage-started', undefined, WAIT_MS);
      proxy.hold();
      proxy.cut();
      await down;
      for (let i = 1; i <= 30; i++) await sender.sendGroup('orders', 'Hello', [String(i)]);
      await sender.sendAll('Hello', ['all-31']);
      const replayed = nextEvent(receiver, 'replayed', (e) => e.target?.kind === 'group', WAIT_MS);
      proxy.release();
      expect((await replayed).count).toBe(30);
      const words: string[] = [];
      for (let i = 0; i < 31; i++) words.push(String((await client.readInvocation()).arguments[0]));
      // Each channel replays in order; the channels themselves replay side by side.
      expect(words.filter((w) => w !== 'all-31')).toEqual(
        Array.from({ length: 30 }, (_, i) => String(i + 1)),
      );
      expect(words.filter((w) => w === 'all-31')).toHaveLength(1);
      await sender.sendGroup('orders', 'Hello', ['live']);
      expect((await client.readInvocation()).arguments).toEqual(['live']);
      await client.expectNothing();
      // Only what the outage swallowed is read back: nothing received live comes twice.
      expect(receiver.stats.duplicates).toBe(0);
      expect(receiver.stats.replayed).toBe(31);
    } finally {
      await close();
    }
  }, 30_000);

  it('durable - when the log no longer holds the gap, it says recovered: false and names what is lost', async () => {
    const { proxy, sender, receiver, client, close } = await pair(5);
    try {
      await sender.sendGroup('orders', 'Hello', ['0']);
      await client.readInvocation();
      const down = nextEvent(receiver, 'outage-started', undefined, WAIT_MS);
      proxy.hold();
      proxy.cut();
      await down;
      for (let i = 1; i <= 20; i++) await sender.sendGroup('orders', 'Hello', [String(i)]);
      const recovered = nextEvent(receiver, 'recovered', (e) => e.target?.kind === 'group', WAIT_MS);
      const gap = nextEvent(receiver, 'gap', (e) => e.target?.kind === 'group', WAIT_MS);
      proxy.release();
      expect((await recovered).recovered).toBe(false);
      expect(await gap).toMatchObject({ from: 2, to: 16, target: { kind: 'group', name: 'orders' } });
      const words: string[] = [];
      for (let i = 0; i < 5; i++) words.push(String((await client.readInvocation()).arguments[0]));
      expect(words).toEqual(['16', '17', '18', '19', '20']);
      await waitFor(() => receiver.stats.gaps === 15, { name: 'the gap counted' }); // seq 2..16 = messages 1..15
    } finally {
      await close();
    }
  }, 30_000);
});

runDurableSuite('redis', async () => {
  const server = await startRedis();
  return {
    createDriver: ({ maxLength }) => new RedisDriver({ url: server.url, durable: { maxLength } }),
    teardown: () => server.stop(),
  };
});
