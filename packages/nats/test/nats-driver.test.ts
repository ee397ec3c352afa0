import { BrokerError, InvalidArgumentError } from '@backplane/core';
import { type NatsServerHandle, runDriverSuite, SETTLE_MS, startNats, waitFor } from '@backplane/testkit';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { channelToSubject, NatsDriver, subjectToChannel } from '../src/index.js';

let nats: NatsServerHandle;
const open: NatsDriver[] = [];
beforeAll(async () => {
  nats = await startNats();
}, 30_000);
afterAll(() => nats?.stop());
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((t) => t.close()));
});

async function driver(url = nats.url) {
  const t = new NatsDriver({ servers: url, options: { reconnectTimeWait: 50 } });
  open.push(t);
  const received: Array<[string, Uint8Array]> = [];
  t.setMessageHandler((channel, payload) => received.push([channel, Uint8Array.from(payload)]));
  await t.connect();
  return { t, received };
}

runDriverSuite('nats', async () => {
  const foreign = await connect({ servers: nats.url });
  return {
    createDriver: () => new NatsDriver({ servers: nats.url }),
    createUnreachable: () => new NatsDriver({ servers: 'nats://127.0.0.1:1', connectTimeout: 1_000 }),
    publishForeign: async (channel, payload) => {
      foreign.publish(channelToSubject('bp', channel), payload);
      await foreign.flush();
    },
    teardown: () => foreign.close(),
  };
});

describe('nats driver', () => {
  it('nats driver - wildcards, separators and spaces in channel names stay literal and never collide', async () => {
    const a = await driver();
    const b = await driver();
    const names = ['g:a.b', 'g:a.*', 'g:>', 'g:*', 'g:with space', 'g:a', 'g:ünï', 'g:a.b.c'];
    for (const name of names) await b.t.subscribe(name);
    for (const name of names) await a.t.publish(name, new TextEncoder().encode(name));
    await waitFor(() => b.received.length === names.length, { name: 'deliveries' });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(b.received.map(([channel, payload]) => [channel, new TextDecoder().decode(payload)])).toEqual(
      names.map((n) => [n, n]),
    );
    expect(new Set(names.map((n) => channelToSubject('bp', n))).size).toBe(names.length);
    for (const name of names) expect(channelToSubject('bp', name)).toMatch(/^bp\.[A-Za-z0-9_-]+$/);
  });

  it('nats driver - long names, the empty name and lone surrogates get distinct short subjects and keep the link up', async () => {
    const a = await driver();
    const b = await driver();
    // 10 KB names would exceed the server's 4 KB control line and drop the connection if sent literally.
    const names = [
      'g:x'.repeat(3_500),
      `${'g:x'.repeat(3_500)}y`,
      '',
      'g:\uD800',
      'g:\uDBFF',
      'g:\uDC00x',
      'g:\uFFFD',
    ];
    for (const name of names) await b.t.subscribe(name);
    for (const [i, name] of names.entries()) await a.t.publish(name, Uint8Array.of(i));
    await waitFor(() => b.received.length === names.length, { name: 'deliveries' });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(b.received).toEqual(names.map((n, i) => [n, Uint8Array.of(i)]));
    expect(a.t.state.type).toBe('connected');
    expect(b.t.state.type).toBe('connected');
    const subjects = names.map((n) => channelToSubject('bp', n));
    expect(new Set(subjects).size).toBe(names.length);
    for (const s of subjects) expect(s.length).toBeLessThanOrEqual(3 + 513);
    expect(subjectToChannel('bp', channelToSubject('bp', 'g:a.b *'))).toBe('g:a.b *');
    expect(subjectToChannel('bp', subjects[0]!)).toBeUndefined();
  });

  it('nats driver - url is an alias of servers; an app-owned connection is used and left open', async () => {
    const byUrl = new NatsDriver({ url: nats.url });
    open.push(byUrl);
    await byUrl.connect();
    expect(byUrl.state.type).toBe('connected');
    const nc = await connect({ servers: nats.url });
    try {
      const t = new NatsDriver({ connection: nc });
      const got: string[] = [];
      t.setMessageHandler((channel) => got.push(channel));
      await t.connect();
      await t.subscribe('owned');
      await byUrl.publish('owned', new Uint8Array([1]));
      await waitFor(() => got.length === 1, { name: 'delivery on the owned connection' });
      await t.close();
      expect(nc.isClosed()).toBe(false);
    } finally {
      await nc.close();
    }
    await expect(new NatsDriver({ connection: nc }).connect()).rejects.toBeInstanceOf(BrokerError);
  });

  it('nats driver - durable: many publishes in flight at once (none waits for an earlier ack), logged and delivered in call order', async () => {
    const nc = await connect({ servers: nats.url });
    try {
      // Count the JetStream publish requests as they leave (each waits for its own ack).
      let requests = 0;
      const request = nc.request.bind(nc);
      nc.request = (...args: Parameters<typeof nc.request>) => {
        requests++;
        return request(...args);
      };
      const t = new NatsDriver({ connection: nc, subjectRoot: 'inflight', durable: { storage: 'memory' } });
      open.push(t);
      const received: Array<[number, string | undefined]> = [];
      t.setMessageHandler((_channel, payload, position) => received.push([payload[0]!, position]));
      await t.connect();
      await t.subscribe('c');
      const start = await t.logPosition('c');
      const before = requests;
      const sent = Array.from({ length: 200 }, (_, i) => t.publishDurable('c', Uint8Array.of(i % 256)));
      expect(requests - before).toBe(200); // all issued before any ack came back
      await Promise.all(sent);
      const order = Array.from({ length: 200 }, (_, i) => i % 256);
      const log = await t.readLog('c', start, 500);
      expect(log.entries.map((e) => e.payload[0])).toEqual(order);
      await waitFor(() => received.length === 200, { name: 'live deliveries' });
      expect(received.map(([value]) => value)).toEqual(order);
      expect(received.map(([, position]) => position)).toEqual(log.entries.map((e) => e.position));
    } finally {
      await nc.close();
    }
  });

  it('nats driver - a subject root with wildcards, spaces or empty tokens is refused', () => {
    for (const root of ['', 'a..b', '*', 'a.>', 'with space', 'a.'])
      expect(() => new NatsDriver({ subjectRoot: root })).toThrow(InvalidArgumentError);
    expect(() => new NatsDriver({ subjectRoot: 'myapp.bp' })).not.toThrow();
  });

  it('nats driver - server killed: disconnected and publishes fail fast; restarted: connected and subscribed again', async () => {
    const own = await startNats({ jetstream: false });
    try {
      const a = await driver(own.url);
      const b = await driver(own.url);
      await b.t.subscribe('survives');
      await own.kill();
      await waitFor(() => a.t.state.type === 'disconnected', { name: 'disconnected state' });
      await expect(a.t.publish('survives', new Uint8Array([1]))).rejects.toBeInstanceOf(BrokerError);
      await own.restart();
      await waitFor(() => a.t.state.type === 'connected' && b.t.state.type === 'connected', {
        name: 'reconnected',
        timeoutMs: 15_000,
      });
      await waitFor(
        async () => {
          await a.t.publish('survives', new Uint8Array([2]));
          return b.received.length > 0;
        },
        { name: 'delivery after restart', intervalMs: 100 },
      );
    } finally {
      await own.stop();
    }
  }, 30_000);
});
