import { BrokerError } from '@backplane/core';
import {
  type RedisClusterHandle,
  type RedisServerHandle,
  runDriverSuite,
  SETTLE_MS,
  startRedisCluster,
  waitFor,
} from '@backplane/testkit';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisDriver } from '../src/index.js';

let cluster: RedisClusterHandle;
const open: Array<{ close(): Promise<unknown> | unknown }> = [];

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
}, 60_000);
afterAll(() => cluster?.stop());
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((t) => t.close()));
});

/** A connected cluster driver that records what it receives. */
async function driver(on: RedisClusterHandle = cluster) {
  const t = new RedisDriver({ cluster: [...on.startupNodes] });
  open.push(t);
  const received: Array<[string, Uint8Array]> = [];
  t.setMessageHandler((channel, payload) => received.push([channel, Uint8Array.from(payload)]));
  await t.connect();
  return { t, received };
}

/** The sharded channels a node serves (`PUBSUB SHARDCHANNELS`). */
async function shardChannels(node: RedisServerHandle): Promise<string[]> {
  const out = await node.cli('pubsub', 'shardchannels');
  return out === '' ? [] : out.split('\n').sort();
}

/** Pub/sub messages this node has sent over the cluster bus (classic and sharded). */
async function busPublishes(node: RedisServerHandle): Promise<number> {
  const info = await node.cli('cluster', 'info');
  const stat = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return stat('cluster_stats_messages_publish_sent') + stat('cluster_stats_messages_publishshard_sent');
}

/** How `promise` settles within `ms`: 'resolved', 'BrokerError', another error's text, or 'pending'. */
function within(ms: number, promise: Promise<unknown>): Promise<string> {
  const settled = promise.then(
    () => 'resolved',
    (error: unknown) => (error instanceof BrokerError ? 'BrokerError' : String(error)),
  );
  return Promise.race([settled, new Promise<string>((resolve) => setTimeout(() => resolve('pending'), ms))]);
}

runDriverSuite('redis cluster (sharded pub/sub)', async () => {
  const foreign = new Cluster([...cluster.startupNodes]);
  return {
    createDriver: () => new RedisDriver({ cluster: [...cluster.startupNodes] }),
    createUnreachable: () =>
      new RedisDriver({ cluster: [{ host: '127.0.0.1', port: 1 }], connectTimeout: 1_000 }),
    publishForeign: async (channel, payload) => {
      await foreign.spublish(channel, Buffer.from(payload));
    },
    teardown: async () => {
      await foreign.quit();
    },
  };
});

describe('redis cluster', () => {
  it('redis cluster - sharded round trip on channels of every shard: binary payloads, receiver counts 0, 1 and 2', async () => {
    const a = await driver();
    const b = await driver();
    const c = await driver();
    expect(a.t.capabilities.sharded).toBe(true);
    const channels = Array.from({ length: 12 }, (_, i) => `bp:hub:group:g${i}`);
    const payload = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(await a.t.publish(channels[0]!, payload)).toBe(0);

    for (const channel of channels) await b.t.subscribe(channel);
    // Each channel lives on exactly one shard, and the channels cover every shard.
    const perNode = await Promise.all(cluster.nodes.map(shardChannels));
    for (const served of perNode) expect(served.length).toBeGreaterThan(0);
    expect(perNode.flat().sort()).toEqual([...channels].sort());

    for (const channel of channels) expect(await a.t.publish(channel, payload)).toBe(1);
    await waitFor(() => b.received.length === channels.length, { name: 'delivery on every shard' });
    expect(new Set(b.received.map(([channel]) => channel))).toEqual(new Set(channels));
    for (const [, bytes] of b.received) expect(bytes).toEqual(payload);

    await c.t.subscribe(channels[5]!);
    expect(await a.t.publish(channels[5]!, payload)).toBe(2);
    await waitFor(() => c.received.length === 1, { name: 'delivery to the second subscriber' });
  });

  it('redis cluster - a sharded message stays on its shard: nothing crosses the cluster bus, classic subscribers get nothing', async () => {
    const channel = 'bp:hub:group:only-here';
    const a = await driver();
    const b = await driver();
    await b.t.subscribe(channel);
    const counts = await Promise.all(
      cluster.nodes.map(async (node) =>
        Number((await node.cli('pubsub', 'shardnumsub', channel)).split('\n')[1]),
      ),
    );
    expect([...counts].sort()).toEqual([0, 0, 1]);

    // A plain SUBSCRIBE client on every node: classic cluster pub/sub would reach all of them.
    const classic: string[] = [];
    for (const node of cluster.nodes) {
      const client = new Redis(node.url);
      open.push({ close: () => client.quit() });
      client.on('message', (_channel: string, message: string) => classic.push(message));
      await client.subscribe(channel);
    }

    const before = await Promise.all(cluster.nodes.map(busPublishes));
    for (let i = 0; i < 20; i++) expect(await a.t.publish(channel, new Uint8Array([i]))).toBe(1);
    await waitFor(() => b.received.length === 20, { name: 'sharded delivery' });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(classic).toEqual([]);
    expect(await Promise.all(cluster.nodes.map(busPublishes))).toEqual(before);

    // The same check catches a broadcast: a classic PUBLISH crosses the bus and reaches every node.
    await cluster.nodes[0]!.cli('publish', channel, 'broadcast');
    await waitFor(() => classic.length === cluster.nodes.length, { name: 'classic broadcast' });
    const after = await Promise.all(cluster.nodes.map(busPublishes));
    expect(after[0]).toBeGreaterThan(before[0]!);
  });

  it('redis cluster - one publisher on one channel: messages arrive in send order, also on fresh connections', async () => {
    // ioredis 5.11 rejects commands to a node connection that is still connecting when the cluster's offline
    // queue is off, and retries them later: the first publishes of a new connection overtook each other.
    const b = await driver();
    for (let round = 0; round < 5; round++) {
      const channel = `bp:fifo:${round}`;
      await b.t.subscribe(channel);
      const a = await driver();
      await Promise.all(Array.from({ length: 200 }, (_, i) => a.t.publish(channel, Uint8Array.of(i))));
      await waitFor(() => b.received.filter(([c]) => c === channel).length === 200, {
        name: `round ${round}`,
      });
      const order = b.received.filter(([c]) => c === channel).map(([, bytes]) => bytes[0]);
      expect(order).toEqual(Array.from({ length: 200 }, (_, i) => i));
      await a.t.close();
    }
  });

  it('redis cluster - an app-owned Cluster client is used and not closed', async () => {
    const client = new Cluster([...cluster.startupNodes], { shardedSubscribers: true });
    open.push({ close: () => client.quit() });
    const a = new RedisDriver({ cluster: client });
    open.push(a);
    const b = await driver();
    await a.connect();
    await b.t.subscribe('bp:app-cluster');
    await a.subscribe('bp:app-cluster');
    expect(await a.publish('bp:app-cluster', new Uint8Array([7]))).toBe(2);
    await waitFor(() => b.received.length === 1, { name: 'delivery' });
    await a.close();
    expect(client.status).toBe('ready');
    expect(await client.spublish('bp:app-cluster', 'still usable')).toBe(1);
  });
});

describe('redis cluster faults', () => {
  it('redis cluster - the master owning a subscribed channel is killed: publishes to it reject; restarted: the sharded subscription is live again', async () => {
    const own = await startRedisCluster({ masters: 3 });
    try {
      const a = await driver(own);
      const b = await driver(own);
      const channel = 'bp:hub:group:victim';
      await b.t.subscribe(channel);
      const counts = await Promise.all(
        own.nodes.map(async (node) =>
          Number((await node.cli('pubsub', 'shardnumsub', channel)).split('\n')[1]),
        ),
      );
      const owner = own.nodes[counts.indexOf(1)]!;

      await owner.kill();
      await expect(a.t.publish(channel, new Uint8Array([1]))).rejects.toBeInstanceOf(BrokerError);
      await owner.restart();
      await waitFor(async () => (await a.t.publish(channel, new Uint8Array([2]))) === 1, {
        timeoutMs: 20_000,
        name: 'sharded subscription restored',
      });
      await waitFor(() => b.received.some(([, bytes]) => bytes[0] === 2), { name: 'delivery after restart' });
      expect(b.received.every(([c]) => c === channel)).toBe(true);
    } finally {
      await Promise.allSettled(open.splice(0).map((t) => t.close()));
      await own.stop();
    }
  }, 60_000);

  it('redis cluster - the whole cluster killed: publishes reject instead of queueing; restarted: connected and subscribed again', async () => {
    const own = await startRedisCluster({ masters: 3 });
    try {
      const a = await driver(own); // publishes only
      const b = await driver(own); // subscribes (and so holds connections that notice the outage)
      await b.t.subscribe('bp:hub:all');
      await Promise.all(own.nodes.map((node) => node.kill()));
      await waitFor(() => b.t.state.type === 'disconnected', { name: 'disconnected state' });
      // Queued, a publish would wait in ioredis's unbounded offline queue for the cluster to come back, out
      // of reach of core's outbox: it rejects at once instead.
      await expect(within(1_000, b.t.publish('bp:hub:all', new Uint8Array([1])))).resolves.toBe(
        'BrokerError',
      );
      // A driver that has not touched the cluster since the outage began still thinks it is connected:
      // its first publish is the one that finds out (and is delivered late, once, if the cluster returns).
      const first = a.t.publish('bp:hub:all', new Uint8Array([2])).catch(() => undefined);
      await waitFor(() => a.t.state.type === 'disconnected', { name: 'publisher sees the outage' });
      await expect(within(1_000, a.t.publish('bp:hub:all', new Uint8Array([3])))).resolves.toBe(
        'BrokerError',
      );

      await Promise.all(own.nodes.map((node) => node.restart()));
      await waitFor(() => a.t.state.type === 'connected' && b.t.state.type === 'connected', {
        timeoutMs: 20_000,
        name: 'connected again',
      });
      await first;
      await waitFor(async () => (await a.t.publish('bp:hub:all', new Uint8Array([4]))) === 1, {
        timeoutMs: 20_000,
        name: 'sharded subscription restored',
      });
      await waitFor(() => b.received.some(([, bytes]) => bytes[0] === 4), { name: 'delivery after restart' });
      expect(b.received.filter(([, bytes]) => bytes[0] === 1 || bytes[0] === 3)).toEqual([]);
    } finally {
      await Promise.allSettled(open.splice(0).map((t) => t.close()));
      await own.stop();
    }
  }, 60_000);
});
