import { BrokerError } from '@backplane/core';
import {
  runPositionOrderSuite,
  runSessionStoreSuite,
  startRedis,
  startRedisCluster,
  startRedisSentinel,
} from '@backplane/testkit';
import { describe, expect, it } from 'vitest';
import { RedisDriver } from '../src/index.js';

runSessionStoreSuite('redis standalone', async () => {
  const redis = await startRedis();
  return { createDriver: () => new RedisDriver({ url: redis.url }), teardown: () => redis.stop() };
});

runSessionStoreSuite('redis sentinel', async () => {
  const sentinel = await startRedisSentinel();
  return { createDriver: () => new RedisDriver({ url: sentinel.url }), teardown: () => sentinel.stop() };
});

runSessionStoreSuite('redis cluster', async () => {
  const cluster = await startRedisCluster({ masters: 3 });
  return {
    createDriver: () => new RedisDriver({ cluster: [...cluster.startupNodes] }),
    teardown: () => cluster.stop(),
  };
});

// Two streams written in the same millisecond cannot be ordered: across channels, 0 is allowed.
runPositionOrderSuite(
  'redis',
  async () => {
    const redis = await startRedis();
    return {
      createDriver: ({ maxLength }) => new RedisDriver({ url: redis.url, durable: { maxLength } }),
      teardown: () => redis.stop(),
    };
  },
  { acrossChannels: 'ordered-or-unknown' },
);

describe('redis session store', () => {
  it('redis session store - a record is a Redis string with its TTL (PX), read back by another client', async () => {
    const redis = await startRedis();
    const driver = new RedisDriver({ url: redis.url });
    try {
      await driver.connect();
      await driver.putRecord('app:chat:session:abc.node-1', new TextEncoder().encode('rec'), 60_000);
      expect(await redis.cli('get', 'app:chat:session:abc.node-1')).toBe('rec');
      const ttl = Number(await redis.cli('pttl', 'app:chat:session:abc.node-1'));
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
      await driver.deleteRecord('app:chat:session:abc.node-1');
      expect(await redis.cli('exists', 'app:chat:session:abc.node-1')).toBe('0');
    } finally {
      await driver.close();
      await redis.stop();
    }
  });

  it('redis session store - a store that is unreachable rejects with a BrokerError, never synchronously', async () => {
    const redis = await startRedis();
    const driver = new RedisDriver({ url: redis.url, reconnect: { initialDelay: 50, maxDelay: 100 } });
    try {
      await driver.connect();
      await redis.stop();
      const put = driver.putRecord('k', new Uint8Array([1]), 1_000);
      const get = driver.getRecord('k');
      const del = driver.deleteRecord('k');
      await expect(put).rejects.toBeInstanceOf(BrokerError);
      await expect(get).rejects.toBeInstanceOf(BrokerError);
      await expect(del).rejects.toBeInstanceOf(BrokerError);
    } finally {
      await driver.close();
    }
  });

  it('redis session store - same-millisecond entries of two streams compare as unknown, never the wrong way', () => {
    const driver = new RedisDriver({ url: 'redis://127.0.0.1:1' });
    expect(driver.comparePositions('a', '5-3', 'a', '5-4')).toBe(-1);
    expect(driver.comparePositions('a', '6-0', 'a', '5-9')).toBe(1);
    expect(driver.comparePositions('a', '5-9', 'b', '5-0')).toBe(0);
    expect(driver.comparePositions('a', '4-9', 'b', '5-0')).toBe(-1);
    expect(driver.comparePositions('a', '0-0', 'b', '1-0')).toBe(-1);
  });
});
