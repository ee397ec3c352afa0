import { ClosedError, TransportError, type TransportState } from '@backplane/core';
import { freePort, type NatsServerHandle, startNats, waitFor } from '@backplane/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { channelToSubject, NatsTransport } from '../src/index.js';

/** How long a negative check ("nothing arrives") waits, in ms. */
const SETTLE_MS = 150;

let nats: NatsServerHandle;
const open: NatsTransport[] = [];
beforeAll(async () => {
  nats = await startNats();
}, 30_000);
afterAll(() => nats?.stop());
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((t) => t.close()));
});

async function transport(url = nats.url) {
  const t = new NatsTransport({ servers: url, options: { reconnectTimeWait: 50 } });
  open.push(t);
  const received: Array<[string, Uint8Array]> = [];
  t.setMessageHandler((channel, payload) => received.push([channel, Uint8Array.from(payload)]));
  await t.connect();
  return { t, received };
}

describe('nats transport', () => {
  it('nats transport - binary payloads round-trip byte for byte', async () => {
    const a = await transport();
    const b = await transport();
    await b.t.subscribe('bin');
    const payload = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(await a.t.publish('bin', payload)).toBeUndefined();
    await waitFor(() => b.received.length === 1, { name: 'delivery' });
    expect(b.received[0]).toEqual(['bin', payload]);
  });

  it('nats transport - wildcards, separators and spaces in channel names stay literal and never collide', async () => {
    const a = await transport();
    const b = await transport();
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

  it('nats transport - unsubscribe stops delivery', async () => {
    const a = await transport();
    const b = await transport();
    await b.t.subscribe('x');
    await b.t.unsubscribe('x');
    await a.t.publish('x', new Uint8Array([1]));
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(b.received).toEqual([]);
  });

  it('nats transport - state goes connecting, connected, closed; close is idempotent', async () => {
    const t = new NatsTransport({ servers: nats.url });
    const states: TransportState['type'][] = [];
    t.state$.subscribe((s) => states.push(s.type));
    await t.connect();
    await t.close();
    await t.close();
    expect(states).toEqual(['connecting', 'connected', 'closed']);
    await expect(t.publish('x', new Uint8Array())).rejects.toBeInstanceOf(ClosedError);
  });

  it('nats transport - connecting to nothing rejects with TransportError within connectTimeout', async () => {
    const t = new NatsTransport({ servers: `nats://127.0.0.1:${await freePort()}`, connectTimeout: 800 });
    const started = Date.now();
    await expect(t.connect()).rejects.toBeInstanceOf(TransportError);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('nats transport - server killed: disconnected and publishes fail fast; restarted: connected and subscribed again', async () => {
    const own = await startNats({ jetstream: false });
    try {
      const a = await transport(own.url);
      const b = await transport(own.url);
      await b.t.subscribe('survives');
      await own.kill();
      await waitFor(() => a.t.state.type === 'disconnected', { name: 'disconnected state' });
      await expect(a.t.publish('survives', new Uint8Array([1]))).rejects.toBeInstanceOf(TransportError);
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
