import { ClosedError, type TransportState } from '@backplane/core';
import { describe, expect, it } from 'vitest';
import { MemoryBus, MemoryTransport } from '../src/index.js';

function collect(transport: MemoryTransport): Array<[string, Uint8Array]> {
  const received: Array<[string, Uint8Array]> = [];
  transport.setMessageHandler((channel, payload) => received.push([channel, payload]));
  return received;
}

async function until(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('memory transport', () => {
  it('memory transport - publish reaches subscribers asynchronously, in order, with receiver counts', async () => {
    const bus = new MemoryBus();
    const [a, b, c] = [
      new MemoryTransport({ bus }),
      new MemoryTransport({ bus }),
      new MemoryTransport({ bus }),
    ];
    await Promise.all([a.connect(), b.connect(), c.connect()]);
    const got = collect(b);
    const gotC = collect(c);
    await b.subscribe('x');
    await c.subscribe('x');
    expect(await a.publish('nobody', new Uint8Array([9]))).toBe(0);
    const counts = [await a.publish('x', new Uint8Array([1])), await a.publish('x', new Uint8Array([2]))];
    expect(counts).toEqual([2, 2]);
    expect(got).toHaveLength(0); // never re-entrant
    await until(() => got.length === 2 && gotC.length === 2);
    expect(got.map(([, p]) => p[0])).toEqual([1, 2]);
  });

  it('memory transport - channels are literal: * matches only a channel called *', async () => {
    const bus = new MemoryBus();
    const [a, b] = [new MemoryTransport({ bus }), new MemoryTransport({ bus })];
    await a.connect();
    await b.connect();
    const got = collect(b);
    await b.subscribe('g:*');
    expect(await a.publish('g:abc', new Uint8Array([1]))).toBe(0);
    expect(await a.publish('g:*', new Uint8Array([2]))).toBe(1);
    await until(() => got.length === 1);
    expect(got[0]![0]).toBe('g:*');
  });

  it('memory transport - unsubscribe and close release the bus', async () => {
    const bus = new MemoryBus();
    const t = new MemoryTransport({ bus });
    await t.connect();
    await t.subscribe('a');
    await t.subscribe('b');
    await t.unsubscribe('a');
    expect(bus.channels()).toEqual(['b']);
    await t.close();
    expect(bus.subscriberCount('b')).toBe(0);
  });

  it('memory transport - state goes connecting, connected, closed; closed rejects publishes', async () => {
    const t = new MemoryTransport({ bus: new MemoryBus() });
    const states: TransportState['type'][] = [];
    t.state$.subscribe((s) => states.push(s.type));
    await t.connect();
    await t.close();
    await t.close();
    expect(states).toEqual(['connecting', 'connected', 'closed']);
    await expect(t.publish('x', new Uint8Array())).rejects.toBeInstanceOf(ClosedError);
  });

  it('memory transport - messages queued for a channel unsubscribed before delivery are dropped', async () => {
    const bus = new MemoryBus();
    const [a, b] = [new MemoryTransport({ bus }), new MemoryTransport({ bus })];
    await a.connect();
    await b.connect();
    const got = collect(b);
    await b.subscribe('x');
    await a.publish('x', new Uint8Array([1]));
    await b.unsubscribe('x');
    await b.subscribe('y');
    await a.publish('y', new Uint8Array([2]));
    await until(() => got.length === 1);
    expect(got[0]![0]).toBe('y');
  });
});
