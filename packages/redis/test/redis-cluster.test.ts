import { type RedisClusterHandle, startRedisCluster, waitFor } from '@backplane/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisTransport } from '../src/index.js';

let cluster: RedisClusterHandle;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
}, 60_000);
afterAll(() => cluster?.stop());

describe('redis cluster', () => {
  it('redis cluster - sharded pub/sub delivers on channels of every shard, with receiver counts', async () => {
    const a = new RedisTransport({ cluster: [...cluster.startupNodes] });
    const b = new RedisTransport({ cluster: [...cluster.startupNodes] });
    const received: string[] = [];
    b.setMessageHandler((channel) => received.push(channel));
    try {
      await a.connect();
      await b.connect();
      const channels = Array.from({ length: 12 }, (_, i) => `bp:hub:group:g${i}`);
      for (const channel of channels) await b.subscribe(channel);
      for (const channel of channels) expect(await a.publish(channel, new Uint8Array([1]))).toBe(1);
      await waitFor(() => received.length === channels.length, { name: 'all shards delivered' });
      expect(new Set(received)).toEqual(new Set(channels));
      expect(a.capabilities.sharded).toBe(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('redis cluster - a sharded channel lives on its owning shard only (PUBSUB SHARDNUMSUB)', async () => {
    const b = new RedisTransport({ cluster: [...cluster.startupNodes] });
    try {
      await b.connect();
      await b.subscribe('bp:hub:group:only-here');
      const counts = await Promise.all(
        cluster.nodes.map(async (node) => {
          const out = await node.cli('pubsub', 'shardnumsub', 'bp:hub:group:only-here');
          return Number(out.split('\n')[1]);
        }),
      );
      expect(counts.sort()).toEqual([0, 0, 1]);
    } finally {
      await b.close();
    }
  });
});
