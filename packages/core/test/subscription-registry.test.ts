import { describe, expect, it } from 'vitest';
import { SubscriptionRegistry } from '../src/subscription-registry.js';
import type { Transport } from '../src/transport.js';

/** A transport stub whose subscribe/unsubscribe resolve when the test says so. */
function slowTransport() {
  const log: string[] = [];
  const pending: Array<() => void> = [];
  const op = (name: string) => (channel: string) => {
    log.push(`${name} ${channel}`);
    return new Promise<void>((resolve) => pending.push(resolve));
  };
  const transport = { subscribe: op('sub'), unsubscribe: op('unsub') } as unknown as Transport;
  /** Lets queued operations reach the transport and completes them, until nothing new arrives. */
  const flush = async () => {
    for (let idle = 0; idle < 3; ) {
      await new Promise((r) => setImmediate(r));
      if (pending.length) {
        pending.shift()!();
        idle = 0;
      } else idle++;
    }
  };
  return { transport, log, flush };
}

describe('subscription registry', () => {
  it('subscription registry - subscribes on the first member and unsubscribes after the last', async () => {
    const { transport, log, flush } = slowTransport();
    const registry = new SubscriptionRegistry(transport, () => {});
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
    const { transport, log, flush } = slowTransport();
    const registry = new SubscriptionRegistry(transport, () => {});
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
    const transport = {
      subscribe: async (c: string) => {
        calls.push(c);
        if (fail) throw new Error('broker says no');
      },
      unsubscribe: async () => {},
    } as unknown as Transport;
    const errors: unknown[] = [];
    const registry = new SubscriptionRegistry(transport, (_c, e) => errors.push(e));
    await expect(registry.add('g', 'a')).rejects.toThrow('broker says no');
    fail = false;
    await registry.add('g', 'b');
    expect(calls).toEqual(['g', 'g']);
    expect(errors).toHaveLength(1);
  });
});
