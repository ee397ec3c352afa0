import { BrokerError, ClosedError, type Driver, type DriverStateType } from '@backplane/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SETTLE_MS } from './test-client.js';
import { waitFor } from './wait-for.js';

/** What a driver gives the driver contract suite. */
export interface DriverSuiteHarness {
  /** A new, unconnected driver on the shared broker. */
  createDriver(): Driver;
  /**
   * A new, unconnected driver pointed at an address where nothing listens (e.g. `127.0.0.1:1`), with a
   * short connect timeout (a second or two): its `connect()` must reject with a `BrokerError`. Omitted
   * by an in-process driver, which has no broker to miss (the case is then skipped).
   */
  createUnreachable?(): Driver;
  /**
   * Publishes `payload` on `channel` with a plain broker client that is not a backplane driver (what
   * another app, or an attacker with broker access, would send), the way the driver lays channels out.
   */
  publishForeign(channel: string, payload: Uint8Array): Promise<void>;
  /** Stops whatever the setup started; a harness on a broker it does not own leaves it running. */
  teardown(): Promise<void>;
}

/** Options of `runDriverSuite`. */
export interface DriverSuiteOptions {
  /**
   * How long `connect()` to the unreachable address may stay pending before the case fails, in ms: the
   * connect timeout the harness set, plus room for a slow machine. A deadline, not a speed assertion.
   * @default 15_000
   */
  connectDeadlineMs?: number;
}

/** What a subscribed driver received, copied at delivery (a driver may reuse its buffers). */
type Received = Array<{ channel: string; payload: Uint8Array }>;

const bytes = (...values: number[]) => Uint8Array.from(values);

/** A payload with every byte value, a few that are invalid UTF-8 and look like MessagePack, and a large one. */
function awkwardPayloads(): Uint8Array[] {
  const large = Uint8Array.from({ length: 256 * 1024 }, (_, i) => (i * 31 + 7) & 0xff);
  return [
    Uint8Array.from({ length: 256 }, (_, i) => i),
    bytes(0xc1, 0xff, 0x00),
    bytes(0x00),
    bytes(0x0a, 0x0d, 0x0a),
    bytes(0xed, 0xa0, 0x80), // an encoded lone surrogate: invalid UTF-8
    new Uint8Array(0),
    large,
  ];
}

/** How `promise` settles within `ms`: 'resolved', 'rejected', or 'pending' (then the case fails). */
async function settlesWithin(
  ms: number,
  promise: Promise<unknown>,
): Promise<'resolved' | 'rejected' | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  const settled = promise.then(
    () => 'resolved' as const,
    () => 'rejected' as const,
  );
  try {
    return await Promise.race([settled, pending]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The contract every driver keeps, whatever its broker: bytes arrive exactly as published on
 * the channels subscribed (literal names, receiver counts when the driver has them), the state goes
 * `connecting`, `connected`, `closed`, `close()` is idempotent and everything but `unsubscribe` fails
 * with `ClosedError` afterwards, an unreachable broker makes `connect()` reject with `BrokerError`,
 * bytes from a foreign client reach the handler as bytes, and `unsubscribe` stops delivery. Each driver's
 * own test file keeps only what is specific to its broker.
 * @param setup starts (or reuses) the broker once for the whole suite.
 */
export function runDriverSuite(
  driverName: string,
  setup: () => Promise<DriverSuiteHarness>,
  options: DriverSuiteOptions = {},
): void {
  const connectDeadlineMs = options.connectDeadlineMs ?? 15_000;
  describe(`driver contract (${driverName})`, () => {
    let harness: DriverSuiteHarness | undefined;
    const open: Driver[] = [];
    let test = 0;
    /** A channel name unique to the running case, so that cases never see each other's traffic. */
    const channel = (name: string) => `contract:${test}:${name}`;

    beforeAll(async () => {
      harness = await setup();
    }, 120_000);
    beforeEach(() => {
      test++;
    });
    afterEach(async () => {
      await Promise.allSettled(open.splice(0).map((t) => t.close()));
    }, 60_000);
    afterAll(async () => {
      await harness?.teardown();
    }, 60_000);

    function created(driver: Driver): Driver {
      open.push(driver);
      return driver;
    }

    /** A connected driver recording every message it receives. */
    async function node(): Promise<{ t: Driver; received: Received }> {
      const t = created(harness!.createDriver());
      const received: Received = [];
      t.setMessageHandler((c, payload) => received.push({ channel: c, payload: Uint8Array.from(payload) }));
      await t.connect();
      return { t, received };
    }

    /** What `publish` resolves with for `receivers` subscribers, per the driver's capabilities. */
    function count(t: Driver, receivers: number): number | undefined {
      return t.capabilities.receiverCount ? receivers : undefined;
    }

    /**
     * Publishes a marker (0xfe) on `markerChannel`, which `to` subscribed, waits until it arrived, then
     * {@link SETTLE_MS} more: what was published before it and did not arrive by then is not coming.
     */
    async function fence(from: Driver, to: { received: Received }, markerChannel: string): Promise<void> {
      const markers = () => to.received.filter((m) => m.channel === markerChannel && m.payload[0] === 0xfe);
      const before = markers().length;
      await from.publish(markerChannel, bytes(0xfe));
      await waitFor(() => markers().length > before, { name: `the marker on ${markerChannel}` });
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    }

    it('driver contract - binary payloads round-trip byte for byte, in publish order, with their channel', async () => {
      const a = await node();
      const b = await node();
      const c = channel('bin');
      await b.t.subscribe(c);
      const payloads = awkwardPayloads();
      for (const p of payloads) expect(await a.t.publish(c, p)).toBe(count(a.t, 1));
      await waitFor(() => b.received.length >= payloads.length, { name: 'every payload' });
      expect(b.received.map((m) => m.channel)).toEqual(payloads.map(() => c));
      for (const [i, p] of payloads.entries()) {
        expect(b.received[i]!.payload.length, `payload ${i} length`).toBe(p.length);
        expect(Buffer.compare(b.received[i]!.payload, p), `payload ${i} bytes`).toBe(0);
      }
    });

    it('driver contract - publish resolves with the receiver count when the driver counts, else undefined', async () => {
      const a = await node();
      const b = await node();
      const c = await node();
      const ch = channel('count');
      expect(await a.t.publish(ch, bytes(1))).toBe(count(a.t, 0));
      await b.t.subscribe(ch);
      expect(await a.t.publish(ch, bytes(2))).toBe(count(a.t, 1));
      await c.t.subscribe(ch);
      expect(await a.t.publish(ch, bytes(3))).toBe(count(a.t, 2));
      const got = (n: { received: Received }) => n.received.map((m) => m.payload[0]);
      await waitFor(() => got(b).includes(3) && got(c).includes(3), { name: 'deliveries' });
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      // A counted publish says who got it. Without counts (receiver-side filtering: Kafka), a message
      // published before `subscribe` resolved may still arrive: anything from then on must.
      const counted = a.t.capabilities.receiverCount;
      expect(
        counted
          ? [[2, 3]]
          : [
              [1, 2, 3],
              [2, 3],
            ],
      ).toContainEqual(got(b));
      expect(counted ? [[3]] : [[1, 2, 3], [2, 3], [3]]).toContainEqual(got(c));
    });

    it('driver contract - a message reaches only the subscribers of its channel; names that look like patterns stay literal', async () => {
      const a = await node();
      const b = await node();
      const names = ['lit:*', 'lit:a.>', 'lit:?', 'lit:[ab]', 'lit:with space'].map(channel);
      for (const name of names) await b.t.subscribe(name);
      const others = ['lit:x', 'lit:a.b', 'lit:a', 'lit:with'].map(channel);
      for (const other of others) expect(await a.t.publish(other, bytes(0))).toBe(count(a.t, 0));
      for (const [i, name] of names.entries())
        expect(await a.t.publish(name, bytes(i + 1))).toBe(count(a.t, 1));
      await waitFor(() => b.received.length >= names.length, { name: 'deliveries' });
      await fence(a.t, b, names[0]!);
      expect(b.received.slice(0, names.length).map((m) => [m.channel, m.payload[0]])).toEqual(
        names.map((n, i) => [n, i + 1]),
      );
      expect(b.received.slice(names.length).map((m) => m.channel)).toEqual([names[0]]);
    });

    it('driver contract - state goes connecting, connected, closed; state$ replays it and completes on close', async () => {
      const t = created(harness!.createDriver());
      expect(t.state.type).toBe('connecting');
      const states: DriverStateType[] = [];
      let completed = false;
      t.state$.subscribe({ next: (s) => states.push(s.type), complete: () => (completed = true) });
      await t.connect();
      expect(t.state.type).toBe('connected');
      const late: DriverStateType[] = [];
      t.state$.subscribe((s) => late.push(s.type)).unsubscribe();
      expect(late).toEqual(['connected']);
      await t.close();
      expect(states).toEqual(['connecting', 'connected', 'closed']);
      expect(t.state.type).toBe('closed');
      expect(completed).toBe(true);
    });

    it('driver contract - close is idempotent: twice at once, then again, all resolve; also before connect', async () => {
      const t = created(harness!.createDriver());
      await t.connect();
      await Promise.all([t.close(), t.close()]);
      await t.close();
      expect(t.state.type).toBe('closed');
      const never = created(harness!.createDriver());
      await never.close();
      await never.close();
      expect(never.state.type).toBe('closed');
      await expect(never.connect()).rejects.toBeInstanceOf(ClosedError);
    });

    it('driver contract - after close: publish, subscribe and connect reject with ClosedError, unsubscribe is a no-op, nothing is delivered', async () => {
      const a = await node();
      const b = await node();
      const ch = channel('closed');
      await b.t.subscribe(ch);
      await b.t.close();
      await expect(b.t.publish(ch, bytes(1))).rejects.toBeInstanceOf(ClosedError);
      await expect(b.t.subscribe(channel('other'))).rejects.toBeInstanceOf(ClosedError);
      await expect(b.t.connect()).rejects.toBeInstanceOf(ClosedError);
      await expect(b.t.unsubscribe(ch)).resolves.toBeUndefined();
      expect(await a.t.publish(ch, bytes(2))).toBe(count(a.t, 0));
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      expect(b.received).toEqual([]);
    });

    it('driver contract - connecting to an unreachable broker rejects with BrokerError; the driver still closes', async (context) => {
      if (!harness?.createUnreachable) return context.skip('an in-process driver has no broker to miss');
      const t = created(harness.createUnreachable());
      const states: DriverStateType[] = [];
      t.state$.subscribe((s) => states.push(s.type));
      const connecting = t.connect();
      connecting.catch(() => {});
      expect(await settlesWithin(connectDeadlineMs, connecting)).toBe('rejected');
      await expect(connecting).rejects.toBeInstanceOf(BrokerError);
      expect(states).not.toContain('connected');
      await t.close();
      expect(t.state.type).toBe('closed');
    }, 30_000);

    it('driver contract - bytes from a foreign client reach the handler as bytes, never as an exception, and the link stays up', async () => {
      const a = await node();
      const b = await node();
      const ch = channel('foreign');
      await b.t.subscribe(ch);
      const garbage = [bytes(0xc1, 0xff, 0x00), bytes(0x7b, 0x22), bytes(0x1e), new Uint8Array(0)];
      for (const g of garbage) await harness!.publishForeign(ch, g);
      await waitFor(() => b.received.length >= garbage.length, { name: 'the foreign messages' });
      expect(b.received.map((m) => Array.from(m.payload))).toEqual(garbage.map((g) => Array.from(g)));
      expect(b.t.state.type).toBe('connected');
      await a.t.publish(ch, bytes(42));
      await waitFor(() => b.received.length === garbage.length + 1, { name: 'a regular message after them' });
      expect(Array.from(b.received.at(-1)!.payload)).toEqual([42]);
    });

    it('driver contract - unsubscribe stops delivery; unsubscribing twice or from a channel never subscribed is a no-op', async () => {
      const a = await node();
      const b = await node();
      const ch = channel('x');
      const marker = channel('marker');
      await b.t.subscribe(ch);
      await b.t.subscribe(marker);
      await a.t.publish(ch, bytes(1));
      await waitFor(() => b.received.length === 1, { name: 'delivery while subscribed' });
      await b.t.unsubscribe(ch);
      await b.t.unsubscribe(ch);
      await b.t.unsubscribe(channel('never'));
      expect(await a.t.publish(ch, bytes(2))).toBe(count(a.t, 0));
      await fence(a.t, b, marker);
      expect(b.received.map((m) => [m.channel, m.payload[0]])).toEqual([
        [ch, 1],
        [marker, 0xfe],
      ]);
      await b.t.subscribe(ch);
      await a.t.publish(ch, bytes(3));
      await waitFor(() => b.received.length === 3, { name: 'delivery after subscribing again' });
      expect(b.received[2]!.payload[0]).toBe(3);
    });

    it('driver contract - subscribing twice delivers each message once; a new handler replaces the old one', async () => {
      const a = await node();
      const b = await node();
      const ch = channel('twice');
      await b.t.subscribe(ch);
      await b.t.subscribe(ch);
      expect(await a.t.publish(ch, bytes(1))).toBe(count(a.t, 1));
      await fence(a.t, b, ch);
      expect(b.received.map((m) => m.payload[0])).toEqual([1, 0xfe]);
      const replaced: number[] = [];
      b.t.setMessageHandler((_, payload) => replaced.push(payload[0]!));
      await a.t.publish(ch, bytes(2));
      await waitFor(() => replaced.length === 1, { name: 'delivery to the new handler' });
      expect(replaced).toEqual([2]);
      expect(b.received).toHaveLength(2);
    });
  });
}
