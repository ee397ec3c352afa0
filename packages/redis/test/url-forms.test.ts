import { InvalidArgumentError } from '@backplane/core';
import { startRedis, startRedisCluster, startRedisSentinel, waitFor } from '@backplane/testkit';
import { describe, expect, it } from 'vitest';
import { parseRedisUrl, RedisDriver, redactRedisUrl } from '../src/index.js';

const SECRET = 's3cr:et/@pw';
const ENCODED = encodeURIComponent(SECRET);

/** The error `parseRedisUrl(url)` throws. */
function errorOf(url: string): InvalidArgumentError {
  try {
    parseRedisUrl(url);
  } catch (error) {
    if (error instanceof InvalidArgumentError) return error;
    throw error;
  }
  throw new Error('parseRedisUrl accepted a malformed URL');
}

describe('redis url forms', () => {
  it('url forms - standalone: host, port, db, credentials, TLS and defaults', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6380/2')).toEqual({
      mode: 'standalone',
      tls: false,
      host: '127.0.0.1',
      port: 6380,
      db: 2,
    });
    expect(parseRedisUrl(`rediss://app:${ENCODED}@redis.example`)).toEqual({
      mode: 'standalone',
      tls: true,
      username: 'app',
      password: SECRET,
      host: 'redis.example',
      port: 6379,
      db: 0,
    });
    expect(parseRedisUrl('redis://:pw@[::1]:7000/')).toMatchObject({
      host: '::1',
      port: 7000,
      password: 'pw',
    });
    expect(parseRedisUrl('REDIS://h')).toMatchObject({ mode: 'standalone', host: 'h', port: 6379 });
  });

  it('url forms - cluster: every startup node, credentials for the data nodes', () => {
    expect(parseRedisUrl('redis+cluster://u:p@a:7000,b:7001,c')).toEqual({
      mode: 'cluster',
      tls: false,
      username: 'u',
      password: 'p',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
        { host: 'c', port: 6379 },
      ],
    });
    expect(parseRedisUrl('rediss+cluster://a:1')).toMatchObject({ mode: 'cluster', tls: true });
  });

  it('url forms - sentinel: sentinels (26379 by default), master name, db, the sentinels own credentials', () => {
    expect(
      parseRedisUrl(
        `redis+sentinel://:${ENCODED}@s1:26380,s2/my%20master/3?sentinelPassword=sp&sentinelUsername=su`,
      ),
    ).toEqual({
      mode: 'sentinel',
      tls: false,
      password: SECRET,
      sentinels: [
        { host: 's1', port: 26380 },
        { host: 's2', port: 26379 },
      ],
      name: 'my master',
      db: 3,
      sentinelUsername: 'su',
      sentinelPassword: 'sp',
    });
    expect(parseRedisUrl('rediss+sentinel://s/m')).toMatchObject({
      mode: 'sentinel',
      tls: true,
      name: 'm',
      db: 0,
    });
  });

  it('url forms - malformed URLs throw InvalidArgumentError saying what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['127.0.0.1:6379', /no scheme/],
      ['http://h:1', /unknown scheme/],
      ['redis://', /no host/],
      ['redis://h:0', /port must be a number from 1 to 65535/],
      ['redis://h:99999', /port must be a number/],
      ['redis://h:abc', /port must be a number/],
      ['redis://a:1,b:2', /several hosts need redis\+cluster/],
      ['redis://h/x', /database .* must be a number/],
      ['redis://h?family=6', /unsupported query parameter/],
      ['redis+cluster://a:1,,b:2', /host #2 is empty/],
      ['redis+cluster://a:1/0', /cluster URL takes no path/],
      ['redis+sentinel://s:1', /needs the master name/],
      ['redis+sentinel://s:1/m/0/x', /path is \/<master name>\[\/db\]/],
      ['redis+sentinel://s:1/m?sentinelPassword=a&sentinelPassword=b', /repeated/],
      ['redis://[::1:6379', /closing \]/],
      ['redis://u:%zz@h', /password has a malformed percent-encoding/],
      ['redis://h#x', /fragment/],
    ];
    for (const [url, message] of cases) {
      const error = errorOf(url);
      expect(error.code, url).toBe('ERR_INVALID_ARGUMENT');
      expect(error.message, url).toMatch(message);
    }
    expect(() => new RedisDriver({ url: 'redis://a:1,b:2' })).toThrow(InvalidArgumentError);
  });

  it('url forms - no error message repeats a password, even one typed where it does not belong', () => {
    const urls = [
      `redis://user:${SECRET}@h:1/x`,
      `redis://user:hunter2@h:notaport`,
      `redis://hunter2@`,
      `redis+sentinel://:hunter2@s:1`,
      `redis+sentinel://s:1/m?sentinelPassword=hunter2&x=1`,
      `redis://user:hunter2%zz@h`,
      `redis://hunter2:6379:1`,
    ];
    for (const url of urls) {
      const { message } = errorOf(url);
      expect(message, url).not.toMatch(/hunter2|s3cr/);
    }
  });

  it('url forms - redactRedisUrl hides the password and the sentinel password', () => {
    expect(redactRedisUrl('redis://u:pw@h:1/0')).toBe('redis://u:***@h:1/0');
    expect(redactRedisUrl('redis+sentinel://:pw@s:1,s:2/m?sentinelPassword=sp&x=1')).toBe(
      'redis+sentinel://:***@s:1,s:2/m?sentinelPassword=***&x=1',
    );
  });

  it('url forms - redis:// with credentials connects to a server that requires a password', async () => {
    const redis = await startRedis({ password: SECRET });
    const drivers: RedisDriver[] = [];
    try {
      const url = `redis://default:${ENCODED}@127.0.0.1:${redis.port}/0`;
      const [a, b] = [new RedisDriver({ url }), new RedisDriver({ url })];
      drivers.push(a, b);
      const received: string[] = [];
      b.setMessageHandler((_channel, payload) => received.push(Buffer.from(payload).toString()));
      await Promise.all([a.connect(), b.connect()]);
      await b.subscribe('url-forms');
      expect(await a.publish('url-forms', Buffer.from('hi'))).toBe(1);
      await waitFor(() => received.includes('hi'), { name: 'the message' });
      // Wrong password: the connect error names the URL without the password.
      const wrong = new RedisDriver({
        url: `redis://default:wrong-${ENCODED}@127.0.0.1:${redis.port}`,
        connectTimeout: 1_000,
      });
      const error = await wrong.connect().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error?.message).toMatch(/Could not connect/);
      expect(error?.message).not.toContain(ENCODED);
      expect(error?.message).not.toContain(SECRET);
    } finally {
      await Promise.allSettled(drivers.map((t) => t.close()));
      await redis.stop();
    }
  }, 30_000);

  it('url forms - redis+cluster:// connects in cluster mode (sharded pub/sub across shards)', async () => {
    const cluster = await startRedisCluster({ masters: 3 });
    const drivers: RedisDriver[] = [];
    try {
      const url = `redis+cluster://${cluster.startupNodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
      const [a, b] = [new RedisDriver({ url }), new RedisDriver({ url })];
      drivers.push(a, b);
      expect(a.capabilities.sharded).toBe(true);
      const received: string[] = [];
      b.setMessageHandler((channel) => received.push(channel));
      await Promise.all([a.connect(), b.connect()]);
      const channels = ['c-a', 'c-b', 'c-c', 'c-d', 'c-e', 'c-f'];
      for (const channel of channels) await b.subscribe(channel);
      for (const channel of channels) expect(await a.publish(channel, Buffer.from('x'))).toBe(1);
      await waitFor(() => received.length === channels.length, { name: 'a message on every channel' });
      const shards = await cluster.mastersNow();
      const used = await Promise.all(shards.map((n) => n.cli('pubsub', 'shardnumsub', ...channels)));
      // Sharded subscriptions (SSUBSCRIBE), spread over more than one shard.
      expect(used.filter((out) => /\n1(\n|$)/.test(out)).length).toBeGreaterThan(1);
    } finally {
      await Promise.allSettled(drivers.map((t) => t.close()));
      await cluster.stop();
    }
  }, 90_000);

  it('url forms - redis+sentinel:// connects to the master the sentinels name', async () => {
    const sentinel = await startRedisSentinel();
    const drivers: RedisDriver[] = [];
    try {
      const [a, b] = [new RedisDriver({ url: sentinel.url }), new RedisDriver({ url: sentinel.url })];
      drivers.push(a, b);
      const received: string[] = [];
      b.setMessageHandler((_channel, payload) => received.push(Buffer.from(payload).toString()));
      await Promise.all([a.connect(), b.connect()]);
      await b.subscribe('url-forms');
      expect(await a.publish('url-forms', Buffer.from('hi'))).toBe(1);
      await waitFor(() => received.includes('hi'), { name: 'the message' });
      const master = await sentinel.master();
      expect(await master.cli('pubsub', 'numsub', 'url-forms')).toBe('url-forms\n1');
    } finally {
      await Promise.allSettled(drivers.map((t) => t.close()));
      await sentinel.stop();
    }
  }, 90_000);
});
