import { describe, expect, it, vi } from 'vitest';
import { Channels } from '../src/channels.js';
import { type DriverCapabilities, LOG_START, type LogEntry } from '../src/driver.js';
import { DriverBase } from '../src/driver-base.js';
import { decodeEnvelope } from '../src/envelope-codec.js';
import { BrokerError } from '../src/errors.js';
import { Publisher } from '../src/publisher.js';
import type { BackplaneEvent } from '../src/resilience/events.js';
import { FLUSH_WINDOW, PublishLink } from '../src/resilience/publish-link.js';
import { createStats } from '../src/stats.js';
import { ControllableDriver, TestBus } from './controllable-driver.js';

/** One durable publish as the driver saw it. */
interface Attempt {
  readonly seq: number;
  readonly key: string | undefined;
  settle(outcome: 'ok' | 'fail'): void;
}

/** A durable driver whose every durable publish waits until the test settles it. */
class ScriptedDriver extends DriverBase {
  readonly name = 'scripted';
  readonly capabilities: DriverCapabilities = {
    receiverCount: false,
    durable: true,
    perChannelSubscriptions: true,
    sharded: false,
  };
  readonly attempts: Attempt[] = [];
  /** Sequence numbers stored, in the order the log took them. */
  readonly stored: number[] = [];

  publishDurable(_channel: string, payload: Uint8Array, key?: string): Promise<undefined> {
    const seq = decodeEnvelope(payload).seq;
    return new Promise((resolve, reject) => {
      this.attempts.push({
        seq,
        key,
        settle: (outcome) => {
          if (outcome === 'fail') return reject(new BrokerError('no ack (test)'));
          this.stored.push(seq);
          resolve(undefined);
        },
      });
    });
  }

  async readLog(): Promise<{ entries: LogEntry[]; complete: boolean }> {
    return { entries: [], complete: true };
  }

  async logPosition(): Promise<string> {
    return LOG_START;
  }

  /** The attempts not settled yet. */
  pending(): Attempt[] {
    return this.attempts.filter((a) => !this.#settled.has(a));
  }

  settle(attempt: Attempt, outcome: 'ok' | 'fail'): void {
    this.#settled.add(attempt);
    attempt.settle(outcome);
  }

  readonly #settled = new Set<Attempt>();

  protected async doConnect(): Promise<void> {
    this.setState({ type: 'connected' });
  }
  protected async doClose(): Promise<void> {}
  protected async doPublish(): Promise<undefined> {
    return undefined;
  }
  protected async doSubscribe(): Promise<void> {}
  protected async doUnsubscribe(): Promise<void> {}
}

function setup(emit: (event: BackplaneEvent) => void = () => {}) {
  const driver = new ScriptedDriver();
  const link = new PublishLink(
    driver,
    { outbox: { flushDelay: 0 }, retry: { initialDelay: 1, maxDelay: 1 } },
    emit,
  );
  const publisher = durablePublisher(link);
  const send = () => void publisher.publish('p:h:group:g', { kind: 'invocation', payloads: new Map() });
  return { driver, link, send, publisher };
}

/** A publisher in durable mode on `link`. */
function durablePublisher(link: PublishLink): Publisher {
  const publisher = new Publisher(
    link,
    new Channels('p:', 'h'),
    { serverId: 'a-01234567', epoch: '0123456789abcdef' },
    [],
    createStats(),
  );
  publisher.durable = true;
  return publisher;
}

/** from, from + 1, …, to. */
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

describe('resilience publish link', () => {
  it('publish link - a durable publish retried after a failure carries the same idempotency key, distinct per envelope', async () => {
    const { driver, link, send } = setup();
    send();
    send();
    const [first, second] = driver.pending();
    driver.settle(first!, 'fail');
    driver.settle(second!, 'ok');
    await vi.waitFor(() => expect(driver.pending()).toHaveLength(1));
    const retry = driver.pending()[0]!;
    expect(retry.seq).toBe(1);
    expect(retry.key).toBeDefined();
    expect(retry.key).toBe(first!.key);
    expect(second!.key).toBeDefined();
    expect(second!.key).not.toBe(first!.key);
    // Only safe characters: a key may travel in a protocol header.
    expect(first!.key).toMatch(/^[0-9a-f:]+$/);
    driver.settle(retry, 'ok');
    link.close();
  });

  it('publish link - a publish that fails after later ones were buffered is retried before them (order kept)', async () => {
    const { driver, link, send } = setup();
    send(); // 1: in flight, fails late (an ack timeout)
    send(); // 2: fails at once, goes to the outbox
    const [slow, fast] = driver.pending();
    driver.settle(fast!, 'fail');
    await vi.waitFor(() => expect(link.buffered).toBe(1));
    send(); // 3: queued behind 2
    driver.settle(slow!, 'fail');
    // The retry issues the three at once, in call order (a pipelining driver sends them in one write).
    await vi.waitFor(() => expect(driver.pending()).toHaveLength(3));
    expect(driver.pending().map((a) => a.seq)).toEqual([1, 2, 3]);
    for (const attempt of driver.pending()) driver.settle(attempt, 'ok');
    await vi.waitFor(() => expect(driver.stored).toHaveLength(3));
    expect(driver.stored).toEqual([1, 2, 3]);
    expect(link.buffered).toBe(0);
    link.close();
  });

  it('publish link - many publishes in flight at once, issued in call order, each settling on its own', async () => {
    const { driver, link, publisher } = setup();
    const sent = Array.from({ length: 100 }, () =>
      publisher.publish('p:h:group:g', { kind: 'invocation', payloads: new Map() }),
    );
    // Nothing waited for an earlier outcome: all 100 reached the driver, in call order.
    expect(driver.pending().map((a) => a.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const outcomes = sent.map((p) => p.then(() => 'ok'));
    for (const attempt of driver.pending().reverse()) driver.settle(attempt, 'ok');
    expect(await Promise.all(outcomes)).toEqual(Array(100).fill('ok'));
    expect(link.buffered).toBe(0);
    link.close();
  });

  it('publish link - a flush issues a window of buffered messages at once, in order, and keeps only the failed ones', async () => {
    const events: BackplaneEvent[] = [];
    const { driver, link, send } = setup((event) => events.push(event));
    link.setUp(false);
    for (let i = 0; i < FLUSH_WINDOW + 5; i++) send();
    expect(link.buffered).toBe(FLUSH_WINDOW + 5);
    expect(driver.pending()).toHaveLength(0);
    link.setUp(true);
    await vi.waitFor(() => expect(driver.pending()).toHaveLength(FLUSH_WINDOW));
    const first = driver.pending();
    expect(first.map((a) => a.seq)).toEqual(Array.from({ length: FLUSH_WINDOW }, (_, i) => i + 1));
    // 2 and 4 fail; the rest of the window is done.
    for (const attempt of first)
      driver.settle(attempt, attempt.seq === 2 || attempt.seq === 4 ? 'fail' : 'ok');
    await vi.waitFor(() => expect(driver.pending()).toHaveLength(7));
    expect(driver.pending().map((a) => a.seq)).toEqual([2, 4, ...range(FLUSH_WINDOW + 1, FLUSH_WINDOW + 5)]);
    for (const attempt of driver.pending()) driver.settle(attempt, 'ok');
    await vi.waitFor(() => expect(link.buffered).toBe(0));
    await vi.waitFor(() =>
      expect(events.filter((e) => e.type === 'flushed').map((e) => (e as { count: number }).count)).toEqual([
        FLUSH_WINDOW - 2,
        7,
      ]),
    );
    expect(new Set(driver.stored).size).toBe(FLUSH_WINDOW + 5);
    link.close();
  });

  it('publish link - with nothing buffered, a publish goes straight out even while an earlier one is in flight and the link came back', async () => {
    const { driver, link, send } = setup();
    send(); // 1: in flight (a slow broker)
    link.setUp(true); // the link reports up again (a flush starts: nothing is buffered)
    send(); // 2: nothing waits in the outbox, so it must not be held behind the in-flight one
    expect(driver.pending().map((a) => a.seq)).toEqual([1, 2]);
    expect(link.buffered).toBe(0);
    for (const attempt of driver.pending()) driver.settle(attempt, 'ok');
    link.close();
  });
});

describe('resilience publish link - hub sends complete on acceptance', () => {
  it('publish link - a hub send resolves once issued, before the broker answers; successive sends of one turn all reach the driver', async () => {
    const { driver, link, publisher } = setup();
    const done: number[] = [];
    const sends = [1, 2, 3].map((n) => publisher.all(new Map()).then(() => done.push(n)));
    await Promise.all(sends);
    // All three resolved while the broker has answered none of them.
    expect(done).toEqual([1, 2, 3]);
    expect(driver.pending().map((a) => a.seq)).toEqual([1, 2, 3]);
    for (const attempt of driver.pending()) driver.settle(attempt, 'ok');
    await vi.waitFor(() => expect(driver.stored).toEqual([1, 2, 3]));
    link.close();
  });

  it('publish link - an accepted send the broker then refuses is retried from the outbox, in order, with its idempotency key', async () => {
    const { driver, link, publisher } = setup();
    await publisher.all(new Map());
    await publisher.all(new Map());
    const [first, second] = driver.pending();
    driver.settle(first!, 'fail');
    driver.settle(second!, 'ok');
    await vi.waitFor(() => expect(driver.pending()).toHaveLength(1));
    const retry = driver.pending()[0]!;
    expect(retry.seq).toBe(1);
    expect(retry.key).toBe(first!.key);
    driver.settle(retry, 'ok');
    await vi.waitFor(() => expect(link.buffered).toBe(0));
    expect(driver.stored).toEqual([2, 1]);
    link.close();
  });

  it('publish link - a send refused now (outbox full, reject policy) rejects; one the outbox gives up later is reported as an overflow event', async () => {
    const events: BackplaneEvent[] = [];
    const driver = new ScriptedDriver();
    const link = new PublishLink(
      driver,
      {
        outbox: { flushDelay: 0, maxMessages: 1, policy: 'reject' },
        retry: { initialDelay: 1, maxDelay: 1 },
      },
      (event) => events.push(event),
    );
    const publisher = durablePublisher(link);
    await publisher.all(new Map()); // A: issued, in flight
    link.setUp(false);
    await publisher.all(new Map()); // B: buffered, the outbox is full
    await expect(publisher.all(new Map())).rejects.toMatchObject({ code: 'ERR_OUTBOX_FULL' }); // C: refused now
    expect(events.filter((e) => e.type === 'overflow')).toHaveLength(1);
    // A fails late: the full outbox cannot take it back; its caller is long gone, so the event says it.
    driver.settle(driver.pending()[0]!, 'fail');
    await vi.waitFor(() => expect(events.filter((e) => e.type === 'overflow')).toHaveLength(2));
    expect(link.dropped).toBe(2);
    link.close();
  });

  it('publish link - on a sharded driver a hub send waits for the broker, so an awaited send stays ahead of the next on another shard', async () => {
    const driver = new ScriptedDriver();
    Object.assign(driver, { capabilities: { ...driver.capabilities, sharded: true } });
    const link = new PublishLink(driver, { outbox: { flushDelay: 0 } }, () => {});
    const publisher = durablePublisher(link);
    let settled = false;
    const sent = publisher.all(new Map()).then(() => {
      settled = true;
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(settled).toBe(false);
    driver.settle(driver.pending()[0]!, 'ok');
    await sent;
    expect(settled).toBe(true);
    link.close();
  });

  it('publish link - without an outbox a hub send waits for the broker and its failure reaches the caller', async () => {
    const driver = new ScriptedDriver();
    const link = new PublishLink(driver, { outbox: false }, () => {});
    const publisher = durablePublisher(link);
    let settled = false;
    const sent = publisher.all(new Map()).finally(() => {
      settled = true;
    });
    await Promise.resolve();
    expect(settled).toBe(false);
    driver.settle(driver.pending()[0]!, 'fail');
    await expect(sent).rejects.toBeInstanceOf(BrokerError);
    link.close();
  });
});

describe('resilience publish link (no durable log)', () => {
  it('publish link - a durable publish to a driver without a log fails with BrokerError', async () => {
    const link = new PublishLink(new ControllableDriver(new TestBus()), { outbox: false }, () => {});
    const sent = link.publishDurable('p:h:all', new Uint8Array([1]));
    await expect(sent).rejects.toBeInstanceOf(BrokerError);
    await expect(sent).rejects.toMatchObject({ code: 'ERR_BROKER' });
  });
});
