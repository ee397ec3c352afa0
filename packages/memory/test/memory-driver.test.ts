import { runDriverSuite } from '@backplane/testkit';
import { describe, expect, it } from 'vitest';
import { MemoryBus, MemoryDriver } from '../src/index.js';

function collect(driver: MemoryDriver): Array<[string, Uint8Array]> {
  const received: Array<[string, Uint8Array]> = [];
  driver.setMessageHandler((channel, payload) => received.push([channel, payload]));
  return received;
}

async function until(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

runDriverSuite('memory', async () => {
  const bus = new MemoryBus();
  return {
    createDriver: () => new MemoryDriver({ bus }),
    publishForeign: async (channel, payload) => {
      bus.publish(channel, payload);
    },
    teardown: async () => {},
  };
});

describe('memory driver', () => {
  it('memory driver - delivery is asynchronous (never re-entrant) and reaches every subscriber', async () => {
    const bus = new MemoryBus();
    const [a, b, c] = [new MemoryDriver({ bus }), new MemoryDriver({ bus }), new MemoryDriver({ bus })];
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

  it('memory driver - unsubscribe and close release the bus', async () => {
    const bus = new MemoryBus();
    const t = new MemoryDriver({ bus });
    await t.connect();
    await t.subscribe('a');
    await t.subscribe('b');
    await t.unsubscribe('a');
    expect(bus.channels()).toEqual(['b']);
    await t.close();
    expect(bus.subscriberCount('b')).toBe(0);
  });

  it('memory driver - messages queued for a channel unsubscribed before delivery are dropped', async () => {
    const bus = new MemoryBus();
    const [a, b] = [new MemoryDriver({ bus }), new MemoryDriver({ bus })];
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
