import { runTransportSuite } from '@backplane/testkit';
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

runTransportSuite('memory', async () => {
  const bus = new MemoryBus();
  return {
    createTransport: () => new MemoryTransport({ bus }),
    publishForeign: async (channel, payload) => {
      bus.publish(channel, payload);
    },
    teardown: async () => {},
  };
});

describe('memory transport', () => {
  it('memory transport - delivery is asynchronous (never re-entrant) and reaches every subscriber', async () => {
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
    await a.publish('x', new Uint8Array([1]));
    await a.publish('x', new Uint8Array([2]));
    expect(got).toHaveLength(0); // never re-entrant
    await until(() => got.length === 2 && gotC.length === 2);
    expect(got.map(([, p]) => p[0])).toEqual([1, 2]);
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
