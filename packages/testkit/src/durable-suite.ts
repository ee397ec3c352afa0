import {
  type DurableDriver,
  HubContext,
  HubLifetimeManager,
  isDurableDriver,
  type MessageHandler,
} from '@backplane/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextEvent } from './next-event.js';
import { TestClient } from './test-client.js';
import { waitFor } from './wait-for.js';
import { overrideDriver } from './wrap-driver.js';

/** What a durable driver gives the durable suite. */
export interface DurableHarness {
  /** A new, unconnected durable driver on the shared broker, keeping `maxLength` entries per channel. */
  createDriver(options: { maxLength: number }): DurableDriver;
  teardown(): Promise<void>;
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
/** How long a test waits for an expected event or message, in ms. */
const WAIT_MS = 15_000;
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (payload: Uint8Array) => new TextDecoder().decode(payload);

/**
 * A driver whose live deliveries can be swallowed on purpose: the receiver "misses" messages that the
 * broker did log, which is what an outage, a slow consumer or a lost packet looks like from core.
 */
function lossy(driver: DurableDriver) {
  let dropping = false;
  const dropped = new Map<string, number>();
  const passed = new Map<string, number>();
  const read = new Map<string, number>();
  let afterNextRead: (() => Promise<void>) | undefined;
  const wrapped = overrideDriver(driver, {
    setMessageHandler: (handler: MessageHandler) =>
      driver.setMessageHandler((channel, payload, position) => {
        const counts = dropping ? dropped : passed;
        counts.set(channel, (counts.get(channel) ?? 0) + 1);
        if (!dropping) handler(channel, payload, position);
      }),
    readLog: async (...args: Parameters<DurableDriver['readLog']>) => {
      const page = await driver.readLog(...args);
      read.set(args[0], (read.get(args[0]) ?? 0) + page.entries.length);
      const hook = afterNextRead;
      afterNextRead = undefined;
      await hook?.();
      return page;
    },
  });
  return {
    driver: wrapped,
    drop(on: boolean) {
      dropping = on;
    },
    /** Messages swallowed on channels whose name contains `part`. */
    droppedOn(part: string) {
      return sum(dropped, part);
    },
    /** Messages let through on channels whose name contains `part`. */
    passedOn(part: string) {
      return sum(passed, part);
    },
    /** Log entries read back (replays) on channels whose name contains `part`. */
    readOn(part: string) {
      return sum(read, part);
    },
    /** Runs `hook` after the next log read, before its result reaches core. */
    afterNextRead(hook: () => Promise<void>) {
      afterNextRead = hook;
    },
  };
}

function sum(counts: Map<string, number>, part: string): number {
  let n = 0;
  for (const [channel, count] of counts) if (channel.includes(part)) n += count;
  return n;
}

/** Options of `runDurableSuite`. */
export interface DurableSuiteOptions {
  /**
   * The log is bounded per channel (`maxLength`) and `readLog` tells when entries after a position were
   * trimmed. Drivers whose retention is not per channel (Kafka: per topic, by size or age) skip the
   * trimming cases. @default true
   */
  trimsPerChannel?: boolean;
}

/**
 * The durable-mode suite every durable driver runs: the log contract of the driver (positions, reading
 * after a position, paging, channels kept apart, trimming reported) and core's replay on top of it (missed
 * messages come back in order, exactly once; a log that lost the gap says so with the exact range).
 */
export function runDurableSuite(
  driverName: string,
  setup: () => Promise<DurableHarness>,
  options: DurableSuiteOptions = {},
): void {
  const trimming = options.trimsPerChannel !== false;
  describe(`durable (${driverName})`, () => {
    let harness: DurableHarness;
    const open: Array<{ close(): Promise<void> }> = [];
    beforeAll(async () => {
      harness = await setup();
    }, 120_000);
    afterAll(async () => {
      await Promise.allSettled(open.map((o) => o.close()));
      await harness?.teardown();
    }, 60_000);

    async function connected(maxLength = 10_000): Promise<DurableDriver> {
      const t = harness.createDriver({ maxLength });
      open.push(t);
      await t.connect();
      return t;
    }
    const unique = (name: string) => `durable-${Math.random().toString(36).slice(2)}:${name}`;

    it('durable - a durable publish arrives live with its log position, and the log reads back after it', async () => {
      const [writer, reader] = await Promise.all([connected(), connected()]);
      expect(isDurableDriver(writer)).toBe(true);
      const channel = unique('log');
      const live: Array<{ text: string; position: string | undefined }> = [];
      reader.setMessageHandler((c, payload, position) => {
        if (c === channel) live.push({ text: text(payload), position });
      });
      await reader.subscribe(channel);
      const start = await reader.logPosition(channel);
      for (let i = 0; i < 5; i++) await writer.publishDurable(channel, bytes(`m${i}`));
      await waitFor(() => live.length === 5, { name: 'five live messages', timeoutMs: WAIT_MS });
      expect(live.map((m) => m.text)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      expect(live.every((m) => typeof m.position === 'string')).toBe(true);

      const all = await reader.readLog(channel, start, 100);
      expect(all.complete).toBe(true);
      expect(all.entries.map((e) => text(e.payload))).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      expect(all.entries.map((e) => e.position)).toEqual(live.map((m) => m.position));
      const rest = await reader.readLog(channel, live[1]!.position!, 100);
      expect(rest.entries.map((e) => text(e.payload))).toEqual(['m2', 'm3', 'm4']);
      const none = await reader.readLog(channel, live[4]!.position!, 100);
      expect(none.entries).toEqual([]);
    }, 60_000);

    it('durable - the log pages by limit and keeps channels apart', async () => {
      const writer = await connected();
      const [a, b] = [unique('a'), unique('b')];
      const start = await writer.logPosition(a);
      for (let i = 0; i < 7; i++) {
        await writer.publishDurable(a, bytes(`a${i}`));
        await writer.publishDurable(b, bytes(`b${i}`));
      }
      const seen: string[] = [];
      let after = start;
      for (let pages = 0; pages < 10; pages++) {
        const page = await writer.readLog(a, after, 3);
        seen.push(...page.entries.map((e) => text(e.payload)));
        if (page.entries.length < 3) break;
        after = page.entries.at(-1)!.position;
      }
      expect(seen).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6']);
    }, 60_000);

    it.runIf(trimming)(
      'durable - entries trimmed after a position make the read incomplete',
      async () => {
        const writer = await connected(5);
        const channel = unique('trim');
        const start = await writer.logPosition(channel);
        await writer.publishDurable(channel, bytes('first'));
        const afterFirst = (await writer.readLog(channel, start, 10)).entries[0]!.position;
        for (let i = 0; i < 20; i++) await writer.publishDurable(channel, bytes(`m${i}`));
        const page = await writer.readLog(channel, afterFirst, 100);
        expect(page.entries.map((e) => text(e.payload))).toEqual(['m15', 'm16', 'm17', 'm18', 'm19']);
        expect(page.complete).toBe(false);
        const tail = await writer.readLog(channel, page.entries[1]!.position, 100);
        expect(tail).toMatchObject({ complete: true });
      },
      60_000,
    );

    async function managers(maxLength: number) {
      // A prefix is one segment ending with ':' (docs/protocol.md).
      const prefix = `durable-${Math.random().toString(36).slice(2)}-hub:`;
      const options = { prefix, logger: quiet, durable: true, liveness: false as const };
      const receiving = lossy(harness.createDriver({ maxLength }));
      const sender = new HubLifetimeManager({
        ...options,
        driver: harness.createDriver({ maxLength }),
      });
      const receiver = new HubLifetimeManager({ ...options, driver: receiving.driver });
      open.push(sender, receiver);
      await Promise.all([sender.start(), receiver.start()]);
      const client = new TestClient({ connectionId: receiver.createConnectionId() });
      await receiver.onConnected(client);
      await sender.addToGroup(client.connectionId, 'orders');
      return { sender, receiver, receiving, client, prefix };
    }

    it('durable - a server that missed live messages replays them from the log, in order, exactly once', async () => {
      const { sender, receiver, receiving, client } = await managers(10_000);
      await sender.sendGroup('orders', 'Hello', ['0']);
      expect((await client.readInvocation(WAIT_MS)).arguments).toEqual(['0']);
      receiving.drop(true);
      for (let i = 1; i <= 30; i++) await sender.sendGroup('orders', 'Hello', [String(i)]);
      await waitFor(() => receiving.droppedOn('orders') >= 30, {
        name: 'thirty messages missed',
        timeoutMs: WAIT_MS,
      });
      receiving.drop(false);
      const replayed = nextEvent(receiver, 'replayed', undefined, WAIT_MS);
      const recovered = nextEvent(receiver, 'recovered', undefined, WAIT_MS);
      await sender.sendGroup('orders', 'Hello', ['31']);
      expect((await replayed).count).toBe(31);
      expect((await recovered).recovered).toBe(true);
      const words: string[] = [];
      for (let i = 1; i <= 31; i++) words.push(String((await client.readInvocation(WAIT_MS)).arguments[0]));
      expect(words).toEqual(Array.from({ length: 31 }, (_, i) => String(i + 1)));
      await sender.sendGroup('orders', 'Hello', ['live']);
      expect((await client.readInvocation(WAIT_MS)).arguments).toEqual(['live']);
      await client.expectNothing();
      expect(receiver.stats.gaps).toBe(0);
    }, 60_000);

    it('durable - live messages advance the log position: a later gap replays just the gap, recovered', async () => {
      // A log of 10 per channel: 30 messages received live push the subscribe-time position out of it.
      const { sender, receiver, receiving, client } = await managers(10);
      for (let i = 1; i <= 30; i++) await sender.sendGroup('orders', 'Hello', [String(i)]);
      for (let i = 1; i <= 30; i++) await client.readInvocation(WAIT_MS);
      receiving.drop(true);
      for (let i = 31; i <= 33; i++) await sender.sendGroup('orders', 'Hello', [String(i)]);
      await waitFor(() => receiving.droppedOn('orders') >= 3, { name: 'three missed', timeoutMs: WAIT_MS });
      receiving.drop(false);
      const replayed = nextEvent(receiver, 'replayed', (e) => e.target?.kind === 'group', WAIT_MS);
      const recovered = nextEvent(receiver, 'recovered', (e) => e.target?.kind === 'group', WAIT_MS);
      await sender.sendGroup('orders', 'Hello', ['34']);
      expect((await recovered).recovered).toBe(true);
      // The gap ('31'..'33') and the message that revealed it: nothing received live is read again.
      expect((await replayed).count).toBe(4);
      expect(receiving.readOn('orders')).toBe(4);
      expect(receiver.stats.replayed).toBe(4);
      // The only duplicate is the live copy of '34', held while the log delivered it.
      expect(receiver.stats.duplicates).toBe(1);
      const words: string[] = [];
      for (let i = 0; i < 4; i++) words.push(String((await client.readInvocation(WAIT_MS)).arguments[0]));
      expect(words).toEqual(['31', '32', '33', '34']);
      await client.expectNothing();
      expect(receiver.stats.gaps).toBe(0);
    }, 60_000);

    it("durable - a hub context's sends land in the log: a server that missed them replays them", async () => {
      const { receiver, receiving, client, prefix } = await managers(10_000);
      const context = new HubContext({
        driver: harness.createDriver({ maxLength: 10_000 }),
        prefix,
        durable: true,
      });
      open.push(context);
      await context.sendGroup('orders', 'Hello', ['0']);
      expect((await client.readInvocation(WAIT_MS)).arguments).toEqual(['0']);
      receiving.drop(true);
      for (let i = 1; i <= 3; i++) await context.sendGroup('orders', 'Hello', [String(i)]);
      await waitFor(() => receiving.droppedOn('orders') >= 3, { name: 'three missed', timeoutMs: WAIT_MS });
      receiving.drop(false);
      const recovered = nextEvent(receiver, 'recovered', (e) => e.target?.kind === 'group', WAIT_MS);
      await context.sendGroup('orders', 'Hello', ['4']);
      expect((await recovered).recovered).toBe(true);
      const words: string[] = [];
      for (let i = 0; i < 4; i++) words.push(String((await client.readInvocation(WAIT_MS)).arguments[0]));
      expect(words).toEqual(['1', '2', '3', '4']);
      await client.expectNothing();
      expect(receiver.stats.gaps).toBe(0);
    }, 60_000);

    it('durable - a message missed after the replay read the log is fetched by another read, not reported lost', async () => {
      const { sender, receiver, receiving, client } = await managers(10_000);
      await sender.sendGroup('orders', 'Hello', ['0']);
      await client.readInvocation(WAIT_MS);
      receiving.drop(true);
      for (let i = 1; i <= 3; i++) await sender.sendGroup('orders', 'Hello', [String(i)]);
      await waitFor(() => receiving.droppedOn('orders') >= 3, { name: 'three missed', timeoutMs: WAIT_MS });
      receiving.drop(false);
      // While the replay's first read is on its way back: '5' is logged but missed live, '6' arrives live
      // (and is held, since the replay is not done). The first read holds neither.
      receiving.afterNextRead(async () => {
        receiving.drop(true);
        await sender.sendGroup('orders', 'Hello', ['5']);
        await waitFor(() => receiving.droppedOn('orders') >= 4, { name: "'5' missed", timeoutMs: WAIT_MS });
        receiving.drop(false);
        const before = receiving.passedOn('orders');
        await sender.sendGroup('orders', 'Hello', ['6']);
        await waitFor(() => receiving.passedOn('orders') > before, { name: "'6' held", timeoutMs: WAIT_MS });
      });
      const recovered = nextEvent(receiver, 'recovered', (e) => e.target?.kind === 'group', WAIT_MS);
      await sender.sendGroup('orders', 'Hello', ['4']);
      expect((await recovered).recovered).toBe(true);
      const words: string[] = [];
      for (let i = 0; i < 6; i++) words.push(String((await client.readInvocation(WAIT_MS)).arguments[0]));
      expect(words).toEqual(['1', '2', '3', '4', '5', '6']);
      await client.expectNothing();
      expect(receiver.stats.gaps).toBe(0);
    }, 60_000);

    it.runIf(trimming)(
      'durable - when the log no longer holds the gap, it says recovered: false and names what is lost',
      async () => {
        const { sender, receiver, receiving, client } = await managers(5);
        await sender.sendGroup('orders', 'Hello', ['0']);
        await client.readInvocation(WAIT_MS);
        receiving.drop(true);
        for (let i = 1; i <= 20; i++) await sender.sendGroup('orders', 'Hello', [String(i)]);
        await waitFor(() => receiving.droppedOn('orders') >= 20, {
          name: 'twenty messages missed',
          timeoutMs: WAIT_MS,
        });
        receiving.drop(false);
        const recovered = nextEvent(receiver, 'recovered', (e) => e.target?.kind === 'group', WAIT_MS);
        const gap = nextEvent(receiver, 'gap', (e) => e.target?.kind === 'group', WAIT_MS);
        await sender.sendGroup('orders', 'Hello', ['21']);
        expect((await recovered).recovered).toBe(false);
        // seq 1 was '0'; '1'..'16' (seq 2..17) are gone, the log keeps the last five: '17'..'21'.
        expect(await gap).toMatchObject({ from: 2, to: 17, target: { kind: 'group', name: 'orders' } });
        const words: string[] = [];
        for (let i = 0; i < 5; i++) words.push(String((await client.readInvocation(WAIT_MS)).arguments[0]));
        expect(words).toEqual(['17', '18', '19', '20', '21']);
        expect(receiver.stats.gaps).toBe(16);
      },
      60_000,
    );
  });
}
