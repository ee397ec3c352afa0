import type { InvocationMessage } from '@backplane/hub-protocol';
import { JsonHubProtocol } from '@backplane/hub-protocol';
import { filter, firstValueFrom, type Observable, timeout } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BrokerError, ConnectionNotFoundError, OutboxFullError } from '../src/errors.js';
import { HubLifetimeManager, type HubLifetimeManagerOptions, type MissedMessages } from '../src/index.js';
import type { LocalConnection } from '../src/local-connection.js';
import type { BackplaneEvent } from '../src/resilience/events.js';
import { ControllableDriver, TestBus } from './controllable-driver.js';
import { until } from './recording-connection.js';

const json = new JsonHubProtocol();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const WAIT_MS = 5_000;

class Recorder implements LocalConnection {
  readonly protocol = json;
  readonly words: string[] = [];
  /** Invocation ids of client-result invocations received. */
  readonly ids: string[] = [];
  #waiters: Array<() => void> = [];
  constructor(readonly connectionId: string) {}
  write(frame: Uint8Array): void {
    for (const m of json.parseMessages(frame)) {
      const invocation = m as InvocationMessage;
      this.words.push(String(invocation.arguments[0]));
      if (invocation.invocationId) this.ids.push(invocation.invocationId);
    }
    for (const w of this.#waiters.splice(0)) w();
  }
  /** Waits until `count` words arrived (woken by each write); fails after {@link WAIT_MS}. */
  async waitFor(count: number): Promise<string[]> {
    await until(
      () => this.words.length >= count,
      `${count} words`,
      WAIT_MS,
      (wake) => this.#waiters.push(wake),
    );
    return this.words;
  }
}

function nextEvent<T extends BackplaneEvent['type']>(
  events$: Observable<BackplaneEvent>,
  type: T,
): Promise<Extract<BackplaneEvent, { type: T }>> {
  return firstValueFrom(
    events$.pipe(
      filter((e): e is Extract<BackplaneEvent, { type: T }> => e.type === type),
      timeout(WAIT_MS),
    ),
  );
}

const open: HubLifetimeManager[] = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((m) => m.close()));
});

async function pair(options: Partial<HubLifetimeManagerOptions> = {}) {
  const bus = new TestBus();
  const t1 = new ControllableDriver(bus);
  const t2 = new ControllableDriver(bus);
  const base = { hub: 'r', protocols: [json], logger: quiet, liveness: false as const };
  const m1 = new HubLifetimeManager({ ...base, driver: t1, ...options });
  const m2 = new HubLifetimeManager({ ...base, driver: t2 });
  open.push(m1, m2);
  await Promise.all([m1.start(), m2.start()]);
  const c1 = new Recorder(m1.createConnectionId());
  const c2 = new Recorder(m2.createConnectionId());
  await m1.onConnected(c1);
  await m2.onConnected(c2);
  return { t1, t2, m1, m2, c1, c2 };
}

describe('manager presence', () => {
  it('presence - without receiver counts, a server that died silently is gone after 3 heartbeats', async () => {
    const bus = new TestBus();
    const base = {
      hub: 'p',
      protocols: [json],
      logger: quiet,
      liveness: false as const,
      presenceInterval: 50,
    };
    const m1 = new HubLifetimeManager({
      ...base,
      driver: new ControllableDriver(bus, { receiverCount: false }),
    });
    const t2 = new ControllableDriver(bus, { receiverCount: false });
    const m2 = new HubLifetimeManager({ ...base, driver: t2 });
    open.push(m1, m2);
    await Promise.all([m1.start(), m2.start()]);
    const c = new Recorder(m2.createConnectionId());
    await m2.onConnected(c);
    const answer = m1.invokeConnection(c.connectionId, 'Ask', []);
    await c.waitFor(1);
    await m2.setConnectionResult(c.connectionId, { type: 3, invocationId: c.ids[0]!, result: 'alive' });
    expect(await answer).toBe('alive');
    t2.down(); // m2 dies without a goodbye: no heartbeats any more
    const deadline = Date.now() + WAIT_MS;
    let error: unknown;
    while (!error && Date.now() < deadline) {
      error = await m1.invokeConnection(c.connectionId, 'Ask', [], { signal: AbortSignal.timeout(100) }).then(
        () => undefined,
        (e: unknown) => (e instanceof ConnectionNotFoundError ? e : undefined),
      );
    }
    expect(error).toBeInstanceOf(ConnectionNotFoundError);
  });
});

describe('manager presence (pending calls)', () => {
  it('presence - a client result in flight fails when its server says goodbye', async () => {
    const bus = new TestBus();
    const base = {
      hub: 'p',
      protocols: [json],
      logger: quiet,
      liveness: false as const,
      presenceInterval: 60_000,
    };
    const m1 = new HubLifetimeManager({
      ...base,
      driver: new ControllableDriver(bus, { receiverCount: false }),
    });
    const m2 = new HubLifetimeManager({
      ...base,
      driver: new ControllableDriver(bus, { receiverCount: false }),
    });
    open.push(m1, m2);
    await Promise.all([m1.start(), m2.start()]);
    const c = new Recorder(m2.createConnectionId());
    await m2.onConnected(c);
    const failed = m1.invokeConnection(c.connectionId, 'Ask', []).then(
      () => undefined,
      (error: unknown) => error,
    );
    await c.waitFor(1);
    await m2.close(); // never answers; its goodbye must fail the call instead of leaving it pending
    expect(await failed).toBeInstanceOf(ConnectionNotFoundError);
  });
});

describe('manager resilience', () => {
  it('outbox - sends during an outage are delivered locally at once and remotely, in order, after it', async () => {
    const { t1, m1, c1, c2 } = await pair();
    const started = nextEvent(m1.events$, 'outage-started');
    t1.down();
    const outage = await started;
    expect(outage.reason).toBe('driver disconnected');
    for (const word of ['a', 'b', 'c']) await m1.sendAll('Say', [word]);
    expect(c1.words).toEqual(['a', 'b', 'c']);
    expect(m1.stats.buffered).toBe(3);
    const flushed = nextEvent(m1.events$, 'flushed');
    const ended = nextEvent(m1.events$, 'outage-ended');
    t1.up();
    const end = await ended;
    expect(end.durationMs).toBe(end.at - outage.at);
    expect((await flushed).count).toBe(3);
    await m1.sendAll('Say', ['d']);
    expect(await c2.waitFor(4)).toEqual(['a', 'b', 'c', 'd']);
    expect(m1.stats.buffered).toBe(0);
  });

  it('outbox - the flush waits flushDelay, so a server that comes back later still gets what was buffered', async () => {
    // Both servers lose the broker; the receiving one comes back RECEIVER_LATE_MS after the sending one.
    // Virtual time for the flush timer: the check runs at exactly that point, on any machine.
    const FLUSH_DELAY_MS = 400;
    const RECEIVER_LATE_MS = 100;
    const { t1, t2, m1, c2 } = await pair({ outbox: { flushDelay: FLUSH_DELAY_MS } });
    const started = nextEvent(m1.events$, 'outage-started');
    t1.down();
    t2.down();
    await started;
    for (const word of ['a', 'b', 'c']) await m1.sendAll('Say', [word]);
    const flushed = nextEvent(m1.events$, 'flushed');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      t1.up();
      await vi.advanceTimersByTimeAsync(RECEIVER_LATE_MS);
      expect(m1.stats.buffered).toBe(3); // not flushed into a broker the receiver is not back on
      t2.up();
      await vi.advanceTimersByTimeAsync(FLUSH_DELAY_MS - RECEIVER_LATE_MS);
    } finally {
      vi.useRealTimers();
    }
    expect((await flushed).count).toBe(3);
    expect(await c2.waitFor(3)).toEqual(['a', 'b', 'c']);
  });

  it('outbox - a full outbox drops the oldest and says so', async () => {
    const { t1, m1, c2 } = await pair({ outbox: { maxMessages: 2 } });
    t1.down();
    const overflow = nextEvent(m1.events$, 'overflow');
    for (const word of ['a', 'b', 'c']) await m1.sendAll('Say', [word]);
    expect(await overflow).toMatchObject({ dropped: 1, policy: 'drop-oldest', reason: 'count' });
    t1.up();
    expect(await c2.waitFor(2)).toEqual(['b', 'c']);
    expect(m1.stats.dropped).toBe(1);
  });

  it('outbox - the reject policy refuses with OutboxFullError', async () => {
    const { t1, m1 } = await pair({ outbox: { maxMessages: 1, policy: 'reject' } });
    t1.down();
    await m1.sendAll('Say', ['a']);
    await expect(m1.sendAll('Say', ['b'])).rejects.toBeInstanceOf(OutboxFullError);
  });

  it('no outbox - publishes fail with BrokerError and receivers report the gap', async () => {
    const { t1, m1, m2, c2 } = await pair({ outbox: false });
    await m1.sendAll('Say', ['a']);
    await c2.waitFor(1);
    t1.down();
    await expect(m1.sendAll('Say', ['lost'])).rejects.toBeInstanceOf(BrokerError);
    t1.up();
    const gap = nextEvent(m2.events$, 'gap');
    await m1.sendAll('Say', ['b']);
    expect(await gap).toMatchObject({ origin: m1.serverId, from: 2, to: 2, target: { kind: 'all' } });
    expect(await c2.waitFor(2)).toEqual(['a', 'b']);
    expect(m2.stats.gaps).toBe(1);
  });

  it('gaps - a missed group message names the group', async () => {
    const { t2, m1, m2, c2 } = await pair({ outbox: false });
    await m2.addToGroup(c2.connectionId, 'orders');
    await m1.sendGroup('orders', 'Say', ['1']);
    await c2.waitFor(1);
    t2.deaf();
    await m1.sendGroup('orders', 'Say', ['2']);
    await m1.sendGroup('orders', 'Say', ['3']);
    await until(() => t2.lost >= 2, 'two deliveries lost');
    t2.up();
    const gap = nextEvent(m2.events$, 'gap');
    await m1.sendGroup('orders', 'Say', ['4']);
    expect(await gap).toMatchObject({ from: 2, to: 3, target: { kind: 'group', name: 'orders' } });
  });

  it('reconcile - losses on a group and on all are reported in one batched call naming them', async () => {
    const calls: MissedMessages[] = [];
    let called: () => void = () => {};
    const firstCall = new Promise<void>((resolve) => (called = resolve));
    const bus = new TestBus();
    const base = {
      hub: 'r',
      protocols: [json],
      logger: quiet,
      liveness: false as const,
      outbox: false as const,
    };
    const t1 = new ControllableDriver(bus);
    const t2 = new ControllableDriver(bus);
    const m1 = new HubLifetimeManager({ ...base, driver: t1 });
    const m2 = new HubLifetimeManager({
      ...base,
      driver: t2,
      reconcile: (missed) => {
        calls.push(missed);
        called();
      },
    });
    open.push(m1, m2);
    await Promise.all([m1.start(), m2.start()]);
    const c = new Recorder(m2.createConnectionId());
    await m2.onConnected(c);
    await m2.addToGroup(c.connectionId, 'orders');
    await m1.sendGroup('orders', 'Say', ['1']);
    await m1.sendAll('Say', ['a1']);
    await c.waitFor(2);
    t2.deaf();
    await m1.sendGroup('orders', 'Say', ['2']);
    await m1.sendAll('Say', ['a2']);
    await until(() => t2.lost >= 2, 'two deliveries lost');
    t2.up();
    await m1.sendGroup('orders', 'Say', ['3']);
    await m1.sendAll('Say', ['a3']);
    await c.waitFor(4);
    await withTimeout(firstCall, 'the reconcile call');
    expect(calls).toEqual([{ all: true, groups: ['orders'], users: [], connections: false }]);
  });

  it('liveness - a frozen broker is detected by the probe although the driver says connected', async () => {
    const { t1, m1 } = await pair({ liveness: { probeInterval: 50, probeTimeout: 100 } });
    const started = nextEvent(m1.events$, 'outage-started');
    t1.freeze();
    expect(m1.state.type).toBe('connected');
    expect((await started).reason).toBe('probe timeout');
    const ended = nextEvent(m1.events$, 'outage-ended');
    // The outage lasts a known while (not a synchronization: the event is awaited), so its duration shows.
    const FROZEN_MS = 30;
    await new Promise((resolve) => setTimeout(resolve, FROZEN_MS));
    t1.up();
    expect((await ended).durationMs).toBeGreaterThanOrEqual(FROZEN_MS - 1);
  });

  it('duplicates - the same envelope received twice is delivered once', async () => {
    const { t1, m1, m2, c2 } = await pair();
    const seen: Array<[string, Uint8Array]> = [];
    const spy = new ControllableDriver(t1.bus);
    await spy.connect();
    await spy.subscribe(m1.channels.all);
    spy.setMessageHandler((channel, payload) => seen.push([channel, payload]));
    await m1.sendAll('Say', ['once']);
    await c2.waitFor(1);
    await until(() => seen.length > 0, 'the spy to see the envelope'); // the spy is served last
    const [channel, payload] = seen[0]!;
    await spy.raw(channel, payload);
    await spy.close();
    await m1.sendAll('Say', ['next']);
    expect(await c2.waitFor(2)).toEqual(['once', 'next']);
    expect(m2.stats.duplicates).toBe(1);
  });
});

/** `promise`, or a rejection naming `what` after {@link WAIT_MS}. */
async function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${WAIT_MS} ms waiting for ${what}`)), WAIT_MS);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
