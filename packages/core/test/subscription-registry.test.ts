import { describe, expect, it } from 'vitest';
import type { Driver } from '../src/driver.js';
import { SubscriptionRegistry } from '../src/subscription-registry.js';

/** A driver stub whose subscribe/unsubscribe resolve when the test says so. */
function slowDriver() {
  const log: string[] = [];
  const pending: Array<() => void> = [];
  const op = (name: string) => (channel: string) => {
    log.push(`${name} ${channel}`);
    return new Promise<void>((resolve) => pending.push(resolve));
  };
  const driver = { subscribe: op('sub'), unsubscribe: op('unsub') } as unknown as Driver;
  /** Lets queued operations reach the driver and completes them, until nothing new arrives. */
  const flush = async () => {
    for (let idle = 0; idle < 3; ) {
      await new Promise((r) => setImmediate(r));
      if (pending.length) {
        pending.shift()!();
        idle = 0;
      } else idle++;
    }
  };
  return { driver, log, flush };
}

describe('subscription registry', () => {
  it('subscription registry - subscribes on the first member and unsubscribes after the last', async () => {
    const { driver, log, flush } = slowDriver();
    const registry = new SubscriptionRegistry(driver, () => {});
    const a = registry.add('g', 'a');
    const b = registry.add('g', 'b');
    await flush();
    await Promise.all([a, b]);
    expect(log).toEqual(['sub g']);
    const r1 = registry.remove('g', 'a');
    await flush();
    await r1;
    expect(log).toEqual(['sub g']);
    const r2 = registry.remove('g', 'b');
    await flush();
    await r2;
    expect(log).toEqual(['sub g', 'unsub g']);
    expect(registry.members('g').size).toBe(0);
  });

  it('subscription registry - join, leave, join in quick succession ends subscribed', async () => {
    const { driver, log, flush } = slowDriver();
    const registry = new SubscriptionRegistry(driver, () => {});
    const ops = [registry.add('g', 'a'), registry.remove('g', 'a'), registry.add('g', 'a')];
    await flush();
    await Promise.all(ops);
    expect(registry.has('g', 'a')).toBe(true);
    expect(log.at(-1)).toBe('sub g');
    expect(log.filter((l) => l === 'sub g').length - log.filter((l) => l === 'unsub g').length).toBe(1);
  });

  it('subscription registry - a failed subscribe rejects the add and is retried by the next add', async () => {
    let fail = true;
    const calls: string[] = [];
    const driver = {
      subscribe: async (c: string) => {
        calls.push(c);
        if (fail) throw new Error('broker says no');
      },
      unsubscribe: async () => {},
    } as unknown as Driver;
    const errors: unknown[] = [];
    const registry = new SubscriptionRegistry(driver, (_c, e) => errors.push(e));
    await expect(registry.add('g', 'a')).rejects.toThrow('broker says no');
    fail = false;
    await registry.add('g', 'b');
    expect(calls).toEqual(['g', 'g']);
    expect(errors).toHaveLength(1);
  });
});
