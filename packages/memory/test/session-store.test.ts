import { runSessionStoreSuite } from '@backplane/testkit';
import { describe, expect, it } from 'vitest';
import { MemoryBus, MemoryDriver } from '../src/index.js';

runSessionStoreSuite('memory', async () => {
  const bus = new MemoryBus();
  return {
    createDriver: () => new MemoryDriver({ bus }),
    teardown: async () => {},
  };
});

describe('memory session store', () => {
  it('memory session store - records live on the bus: drivers on another bus do not see them', async () => {
    const bus = new MemoryBus();
    const [a, b, other] = [
      new MemoryDriver({ bus }),
      new MemoryDriver({ bus }),
      new MemoryDriver({ bus: new MemoryBus() }),
    ];
    await Promise.all([a.connect(), b.connect(), other.connect()]);
    await a.putRecord('k', new Uint8Array([1]), 60_000);
    expect(await b.getRecord('k')).toEqual(new Uint8Array([1]));
    expect(await other.getRecord('k')).toBeUndefined();
    await a.close();
    expect(await b.getRecord('k')).toEqual(new Uint8Array([1]));
    await expect(a.getRecord('k')).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });

  it('memory session store - expired records are swept out by later writes', async () => {
    const bus = new MemoryBus();
    const a = new MemoryDriver({ bus });
    await a.connect();
    for (let i = 0; i < 10; i++) await a.putRecord(`old-${i}`, new Uint8Array([i]), 0);
    expect(bus.recordCount()).toBe(10);
    for (let i = 0; i < 300; i++) await a.putRecord(`new-${i}`, new Uint8Array([1]), 60_000);
    expect(bus.recordCount()).toBe(300);
    expect(await a.getRecord('old-0')).toBeUndefined();
    expect(await a.getRecord('new-0')).toEqual(new Uint8Array([1]));
  });

  it('memory session store - a stored value is a copy: changing the written buffer changes nothing', async () => {
    const a = new MemoryDriver({ bus: new MemoryBus() });
    await a.connect();
    const value = new Uint8Array([1, 2, 3]);
    await a.putRecord('k', value, 60_000);
    value[0] = 9;
    const read = await a.getRecord('k');
    expect(read).toEqual(new Uint8Array([1, 2, 3]));
    read![1] = 9;
    expect(await a.getRecord('k')).toEqual(new Uint8Array([1, 2, 3]));
  });
});
