import { type Driver, isSessionStoreDriver, type SessionStoreDriver } from '@backplane/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.js';

/** What a driver gives the session store suite. */
export interface SessionStoreHarness {
  /**
   * A new, unconnected driver on the shared broker, as another server of the same app would make it (same
   * store). A driver whose store expires records by a store-wide age configures a short one here (a few
   * seconds at most), so that the expiry case can see a record go.
   */
  createDriver(): Driver;
  /** Stops whatever the setup started; a harness on a broker it does not own leaves it running. */
  teardown(): Promise<void>;
}

/** How long a case waits for a record to expire, in ms (the TTL given plus the store's own delay). */
const EXPIRY_WAIT_MS = 30_000;
/** The TTL of the expiry case, in ms. */
const SHORT_TTL_MS = 1_500;
/** The TTL of every other case, in ms: long enough never to expire during a run. */
const TTL_MS = 600_000;

const bytes = (text: string) => new TextEncoder().encode(text);

/** The record under `key` as a plain `Uint8Array` (a driver may return a `Buffer` or a view). */
async function read(driver: SessionStoreDriver, key: string): Promise<Uint8Array | undefined> {
  const value = await driver.getRecord(key);
  return value === undefined ? undefined : Uint8Array.from(value);
}

/**
 * The session store contract (see `SessionStoreDriver` in core): what one server writes another reads,
 * byte for byte; a write replaces, a delete removes (a missing record too, quietly); a record past its
 * TTL reads as absent; any byte value, values of tens of KiB, keys with any character a connection id or
 * a prefix may hold, and many concurrent writes.
 * @param setup starts (or reuses) the broker once for the whole suite.
 */
export function runSessionStoreSuite(driverName: string, setup: () => Promise<SessionStoreHarness>): void {
  describe(`session store (${driverName})`, () => {
    let harness: SessionStoreHarness | undefined;
    const open: Driver[] = [];
    let test = 0;
    const run = `store-${Math.random().toString(36).slice(2, 10)}:`;
    /** A key unique to the running case, shaped like core's: `{prefix}{hub}:session:{connectionId}`. */
    const key = (name: string) => `${run}chat:session:${test}-${name}.node-1_a`;

    beforeAll(async () => {
      harness = await setup();
    }, 120_000);
    afterEach(async () => {
      test++;
      await Promise.allSettled(open.splice(0).map((t) => t.close()));
    }, 60_000);
    afterAll(async () => {
      await harness?.teardown();
    }, 60_000);

    async function store(): Promise<SessionStoreDriver> {
      const driver = harness!.createDriver();
      open.push(driver);
      if (!isSessionStoreDriver(driver)) throw new Error(`${driver.name} is not a session store driver`);
      await driver.connect();
      return driver;
    }

    it('session store - the driver is a session store driver', () => {
      expect(isSessionStoreDriver(harness!.createDriver())).toBe(true);
    });

    it('session store - a record written by one server reads back on another, byte for byte', async () => {
      const [a, b] = await Promise.all([store(), store()]);
      const k = key('put');
      expect(await read(b, k)).toBeUndefined();
      await a.putRecord(k, bytes('{"groups":["orders"]}'), TTL_MS);
      expect(await read(b, k)).toEqual(bytes('{"groups":["orders"]}'));
      expect(await read(a, k)).toEqual(bytes('{"groups":["orders"]}'));
    });

    it('session store - a write replaces the record', async () => {
      const [a, b] = await Promise.all([store(), store()]);
      const k = key('replace');
      await a.putRecord(k, bytes('first, and longer than the second'), TTL_MS);
      await b.putRecord(k, bytes('second'), TTL_MS);
      expect(await read(a, k)).toEqual(bytes('second'));
      expect(await read(b, k)).toEqual(bytes('second'));
    });

    it('session store - a deleted record reads as absent; deleting a missing record is a no-op', async () => {
      const [a, b] = await Promise.all([store(), store()]);
      const k = key('delete');
      await a.putRecord(k, bytes('x'), TTL_MS);
      expect(await read(b, k)).toEqual(bytes('x'));
      await b.deleteRecord(k);
      expect(await read(a, k)).toBeUndefined();
      expect(await read(b, k)).toBeUndefined();
      await expect(a.deleteRecord(k)).resolves.toBeUndefined();
      await expect(a.deleteRecord(key('never-written'))).resolves.toBeUndefined();
      expect(await read(a, key('never-written'))).toBeUndefined();
    });

    it(
      'session store - a record past its TTL reads as absent, one with a longer TTL stays',
      async () => {
        const [a, b] = await Promise.all([store(), store()]);
        const [gone, kept] = [key('expires'), key('kept')];
        await a.putRecord(gone, bytes('short'), SHORT_TTL_MS);
        await a.putRecord(kept, bytes('long'), TTL_MS);
        expect(await read(b, gone)).toEqual(bytes('short'));
        await waitFor(async () => (await read(b, gone)) === undefined, {
          name: 'the record to expire',
          timeoutMs: EXPIRY_WAIT_MS,
          intervalMs: 250,
        });
        expect(await read(a, gone)).toBeUndefined();
        expect(await read(b, kept)).toEqual(bytes('long'));
      },
      EXPIRY_WAIT_MS + 15_000,
    );

    it('session store - values keep every byte value, and a 64 KiB value round-trips', async () => {
      const [a, b] = await Promise.all([store(), store()]);
      const everyByte = Uint8Array.from({ length: 512 }, (_, i) => (i * 7 + 3) & 0xff);
      everyByte.set(
        Uint8Array.from({ length: 256 }, (_, i) => i),
        0,
      );
      const large = Uint8Array.from({ length: 64 * 1024 }, (_, i) => (i * 31 + 7) & 0xff);
      const empty = new Uint8Array(0);
      await Promise.all([
        a.putRecord(key('bytes'), everyByte, TTL_MS),
        a.putRecord(key('large'), large, TTL_MS),
        a.putRecord(key('empty'), empty, TTL_MS),
        // A view into a larger buffer: only the view's bytes are stored.
        a.putRecord(key('view'), new Uint8Array(large.buffer, 10, 5), TTL_MS),
      ]);
      expect(await read(b, key('bytes'))).toEqual(everyByte);
      expect(await read(b, key('large'))).toEqual(large);
      expect(await read(b, key('empty'))).toEqual(empty);
      expect(await read(b, key('view'))).toEqual(large.slice(10, 15));
    });

    it("session store - keys with ':' '.' '-' '_' and non-ASCII characters are kept apart", async () => {
      const [a, b] = await Promise.all([store(), store()]);
      const base = key('chars');
      const keys = [
        `${base}:a.b`,
        `${base}:a:b`,
        `${base}:a-b`,
        `${base}:a_b`,
        `${base}:a/b`,
        `${base}:a b`,
        `${base}:a*b>`,
        `${base}:ä€😀`,
        `${base}:AbC`,
        `${base}:abc`,
        `${base}:${'x'.repeat(200)}`,
      ];
      await Promise.all(keys.map((k, i) => a.putRecord(k, bytes(`v${i}`), TTL_MS)));
      for (const [i, k] of keys.entries()) expect(await read(b, k)).toEqual(bytes(`v${i}`));
      await b.deleteRecord(keys[0]!);
      expect(await read(a, keys[0]!)).toBeUndefined();
      expect(await read(a, keys[1]!)).toEqual(bytes('v1'));
    });

    it('session store - 100 concurrent writes of different keys are all readable', async () => {
      const [a, b] = await Promise.all([store(), store()]);
      const keys = Array.from({ length: 100 }, (_, i) => key(`many-${i}`));
      await Promise.all(keys.map((k, i) => a.putRecord(k, bytes(`record ${i}`), TTL_MS)));
      const values = await Promise.all(keys.map((k) => read(b, k)));
      expect(values).toEqual(keys.map((_, i) => bytes(`record ${i}`)));
    });
  });
}
