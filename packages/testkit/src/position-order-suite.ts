import type { DurableDriver, LogEntry } from '@backplane/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DurableHarness } from './durable-suite.js';

/** Options of `runPositionOrderSuite`. */
export interface PositionOrderSuiteOptions {
  /**
   * What `comparePositions` tells of entries of two channels logged one after the other: `ordered` (one
   * log for every channel: NATS, a single-partition Kafka topic) or `ordered-or-unknown` (0 allowed, when
   * the log cannot tell: two Redis streams written in the same millisecond).
   * @default 'ordered'
   */
  acrossChannels?: 'ordered' | 'ordered-or-unknown';
}

const bytes = (text: string) => new TextEncoder().encode(text);

/**
 * `DurableDriver.comparePositions` on the positions the log itself hands out: within a channel, earlier
 * before later; across channels, in publish order, or 0 where the log cannot tell, never the wrong way.
 * @param setup starts (or reuses) the broker once for the whole suite.
 */
export function runPositionOrderSuite(
  driverName: string,
  setup: () => Promise<DurableHarness>,
  options: PositionOrderSuiteOptions = {},
): void {
  const strict = (options.acrossChannels ?? 'ordered') === 'ordered';
  describe(`position order (${driverName})`, () => {
    let harness: DurableHarness | undefined;
    const open: DurableDriver[] = [];
    beforeAll(async () => {
      harness = await setup();
    }, 120_000);
    afterAll(async () => {
      await Promise.allSettled(open.map((t) => t.close()));
      await harness?.teardown();
    }, 60_000);

    async function connected(): Promise<DurableDriver> {
      const t = harness!.createDriver({ maxLength: 10_000 });
      open.push(t);
      await t.connect();
      return t;
    }
    const unique = (name: string) => `order-${Math.random().toString(36).slice(2)}:${name}`;

    /** Publishes to `a` and `b` alternately, `rounds` times each, and reads both logs back. */
    async function interleaved(driver: DurableDriver, a: string, b: string, rounds: number) {
      const [startA, startB] = await Promise.all([driver.logPosition(a), driver.logPosition(b)]);
      for (let i = 0; i < rounds; i++) {
        await driver.publishDurable(a, bytes(`a${i}`));
        await driver.publishDurable(b, bytes(`b${i}`));
      }
      const [logA, logB] = await Promise.all([
        driver.readLog(a, startA, 100),
        driver.readLog(b, startB, 100),
      ]);
      expect(logA.entries).toHaveLength(rounds);
      expect(logB.entries).toHaveLength(rounds);
      return { logA: logA.entries, logB: logB.entries };
    }

    it('position order - the driver can compare positions', async () => {
      const driver = await connected();
      expect(typeof driver.comparePositions).toBe('function');
    });

    it('position order - within a channel, an earlier entry compares before a later one', async () => {
      const driver = await connected();
      const [a, b] = [unique('a'), unique('b')];
      const { logA } = await interleaved(driver, a, b, 5);
      const compare = driver.comparePositions!.bind(driver);
      for (let i = 0; i + 1 < logA.length; i++) {
        const [earlier, later] = [logA[i]!.position, logA[i + 1]!.position];
        expect(compare(a, earlier, a, later)).toBeLessThan(0);
        expect(compare(a, later, a, earlier)).toBeGreaterThan(0);
        expect(compare(a, earlier, a, earlier)).toBe(0);
      }
    });

    it(`position order - across channels, entries compare in publish order${strict ? '' : ' or as unknown (0), never the wrong way'}`, async () => {
      const driver = await connected();
      const [a, b] = [unique('a'), unique('b')];
      const { logA, logB } = await interleaved(driver, a, b, 5);
      const compare = driver.comparePositions!.bind(driver);
      // Publish order: a0 b0 a1 b1 …: a[i] before b[i], b[i] before a[i + 1].
      const pairs: Array<[string, LogEntry, string, LogEntry]> = [];
      for (let i = 0; i < 5; i++) {
        pairs.push([a, logA[i]!, b, logB[i]!]);
        if (i + 1 < 5) pairs.push([b, logB[i]!, a, logA[i + 1]!]);
      }
      for (const [first, x, second, y] of pairs) {
        const forward = compare(first, x.position, second, y.position);
        const backward = compare(second, y.position, first, x.position);
        if (strict) {
          expect(forward).toBeLessThan(0);
          expect(backward).toBeGreaterThan(0);
        } else {
          expect(forward).toBeLessThanOrEqual(0);
          expect(backward).toBeGreaterThanOrEqual(0);
          expect(Math.sign(forward) + Math.sign(backward)).toBe(0);
        }
      }
    });
  });
}
