import { BrokerError } from '@backplane/core';
import { type RedisServerHandle, runDriverSuite, startRedis, waitFor } from '@backplane/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisDriver } from '../src/index.js';

let redis: RedisServerHandle;
const open: Array<{ close(): Promise<unknown> | unknown }> = [];

beforeAll(async () => {
  redis = await startRedis();
}, 30_000);
afterAll(() => redis?.stop());
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((t) => t.close()));
});

async function driver(options: ConstructorParameters<typeof RedisDriver>[0] = {}) {
  const t = new RedisDriver({ url: redis.url, ...options });
  open.push(t);
  const received: Array<[string, Uint8Array]> = [];
  t.setMessageHandler((channel, payload) => received.push([channel, Uint8Array.from(payload)]));
  await t.connect();
  return { t, received };
}

runDriverSuite('redis standalone', async () => {
  const foreign = new Redis(redis.url);
  return {
    createDriver: () => new RedisDriver({ url: redis.url }),
    createUnreachable: () => new RedisDriver({ url: 'redis://127.0.0.1:1', connectTimeout: 1_000 }),
    publishForeign: async (channel, payload) => {
      await foreign.publish(channel, Buffer.from(payload));
    },
    teardown: async () => {
      await foreign.quit();
    },
  };
});

describe('redis driver', () => {
  it('redis driver - channels are literal: a channel named a* gets nothing published on ab', async () => {
    const a = await driver();
    const b = await driver();
    await b.t.subscribe('a*');
    expect(await redis.cli('pubsub', 'numpat')).toBe('0');
    expect(await a.t.publish('ab', new Uint8Array([1]))).toBe(0);
    expect(await a.t.publish('a*', new Uint8Array([2]))).toBe(1);
    await waitFor(() => b.received.length === 1, { name: 'delivery' });
    expect(b.received[0]![0]).toBe('a*');
  });

  it('redis driver - an app-supplied client is used and not closed', async () => {
    const client = new Redis(redis.url);
    open.push({ close: () => client.quit() });
    const a = await driver({ client });
    const b = await driver();
    await b.t.subscribe('app');
    expect(await a.t.publish('app', new Uint8Array([7]))).toBe(1);
    await a.t.close();
    expect(client.status).toBe('ready');
  });

  it('redis driver - the publishes of one turn leave in one socket write, each with its own receiver count, in call order', async () => {
    const client = new Redis(redis.url);
    open.push({ close: () => client.quit() });
    const a = await driver({ client });
    const b = await driver();
    await b.t.subscribe('one');
    // Count what reaches the publisher's socket (a writev of many commands is one write).
    const socket = client.stream as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>;
    let writes = 0;
    for (const name of ['_write', '_writev'] as const) {
      const original = socket[name];
      socket[name] = function (this: unknown, ...args: unknown[]) {
        writes++;
        original.apply(this, args);
      };
    }
    const channels = Array.from({ length: 50 }, (_, i) => (i % 3 === 0 ? 'nobody' : 'one'));
    const counts = await Promise.all(channels.map((c, i) => a.t.publish(c, Uint8Array.of(i))));
    expect(writes).toBe(1);
    expect(counts).toEqual(channels.map((c) => (c === 'one' ? 1 : 0)));
    const expected = channels.flatMap((c, i) => (c === 'one' ? [i] : []));
    await waitFor(() => b.received.length === expected.length, { name: 'deliveries' });
    expect(b.received.map(([, p]) => p[0])).toEqual(expected);
  });

  it('redis driver - a password in the URL or in ioredis options passes through; a wrong one rejects without echoing it', async () => {
    const locked = await startRedis({ password: 's3cret' });
    try {
      const viaUrl = await driver({ url: locked.url }); // redis://:s3cret@127.0.0.1:PORT
      const viaOptions = await driver({
        url: `redis://127.0.0.1:${locked.port}`,
        options: { password: 's3cret' },
      });
      await viaOptions.t.subscribe('locked');
      expect(await viaUrl.t.publish('locked', new Uint8Array([1]))).toBe(1);
      await waitFor(() => viaOptions.received.length === 1, { name: 'delivery' });

      const wrong = new RedisDriver({
        url: `redis://:wrong-pass@127.0.0.1:${locked.port}`,
        connectTimeout: 500,
      });
      open.push(wrong);
      const error = await wrong.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(BrokerError);
      expect((error as Error).message).not.toContain('wrong-pass');
    } finally {
      await Promise.allSettled(open.splice(0).map((t) => t.close()));
      await locked.stop();
    }
  }, 30_000);
});

describe('redis driver faults', () => {
  it('redis driver - Redis killed: state disconnected, publishes fail fast; restarted: connected and subscriptions live again', async () => {
    const own = await startRedis();
    try {
      const a = new RedisDriver({ url: own.url, reconnect: { initialDelay: 50, maxDelay: 200 } });
      const b = new RedisDriver({ url: own.url, reconnect: { initialDelay: 50, maxDelay: 200 } });
      open.push(a, b);
      const received: string[] = [];
      b.setMessageHandler((channel) => received.push(channel));
      await a.connect();
      await b.connect();
      await b.subscribe('survives');
      const states: string[] = [];
      b.state$.subscribe((s) => states.push(s.type));
      await own.kill();
      await waitFor(() => b.state.type === 'disconnected', { name: 'disconnected state' });
      await expect(a.publish('survives', new Uint8Array([1]))).rejects.toBeInstanceOf(BrokerError);
      await own.restart();
      await waitFor(() => a.state.type === 'connected' && b.state.type === 'connected', {
        name: 'reconnected',
      });
      await waitFor(async () => (await a.publish('survives', new Uint8Array([2]))) === 1, {
        name: 'resubscribed',
      });
      await waitFor(() => received.length >= 1, { name: 'delivery after restart' });
      expect(states).toContain('disconnected');
    } finally {
      await own.stop();
    }
  }, 30_000);

  it('redis driver - subscriptions changed during an outage: after the restart exactly the subscribed channels are live', async () => {
    const own = await startRedis();
    try {
      const fast = { initialDelay: 50, maxDelay: 200 };
      const a = new RedisDriver({ url: own.url, reconnect: fast });
      const b = new RedisDriver({ url: own.url, reconnect: fast });
      open.push(a, b);
      await a.connect();
      await b.connect();
      await b.subscribe('kept');
      await b.subscribe('dropped-before');
      await b.unsubscribe('dropped-before');
      await b.subscribe('dropped-during');

      await own.kill();
      await waitFor(() => b.state.type === 'disconnected', { name: 'disconnected state' });
      const joining = b.subscribe('joined-during');
      const leaving = b.unsubscribe('dropped-during');
      await own.restart();
      await Promise.all([joining, leaving]);

      const live = async () => (await own.cli('pubsub', 'channels')).split('\n').filter(Boolean).sort();
      await waitFor(async () => JSON.stringify(await live()) === JSON.stringify(['joined-during', 'kept']), {
        name: 'live channels = subscribed channels',
      });
      // The publisher reconnects on its own schedule; publishes fail fast until it has.
      await waitFor(() => a.state.type === 'connected', { name: 'publisher reconnected' });
      const counts: Record<string, number | undefined> = {};
      for (const channel of ['kept', 'joined-during', 'dropped-during', 'dropped-before'])
        counts[channel] = await a.publish(channel, new Uint8Array([1]));
      expect(counts).toEqual({ kept: 1, 'joined-during': 1, 'dropped-during': 0, 'dropped-before': 0 });
    } finally {
      await own.stop();
    }
  }, 30_000);
});
