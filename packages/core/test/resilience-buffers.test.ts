import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/resilience/backoff.js';
import { GapDetector } from '../src/resilience/gap-detector.js';
import { Outbox } from '../src/resilience/outbox.js';

const bytes = (n: number) => new Uint8Array(n);

describe('resilience outbox', () => {
  it('outbox - keeps order and drops the oldest when over count', () => {
    const outbox = new Outbox({ maxMessages: 2 });
    expect(outbox.push('a', bytes(1), 0)).toEqual({ accepted: true, dropped: 0 });
    outbox.push('b', bytes(1), 0);
    expect(outbox.push('c', bytes(1), 0)).toEqual({ accepted: true, dropped: 1, reason: 'count' });
    expect([outbox.shift()?.channel, outbox.shift()?.channel, outbox.shift()]).toEqual(['b', 'c', undefined]);
  });

  it('outbox - bounds bytes and refuses with reject policy', () => {
    const outbox = new Outbox({ maxBytes: 10, policy: 'reject' });
    expect(outbox.push('a', bytes(6), 0).accepted).toBe(true);
    expect(outbox.push('b', bytes(6), 0)).toEqual({ accepted: false, reason: 'bytes' });
    expect(outbox.size).toBe(1);
    expect(outbox.bytes).toBe(6);
    expect(outbox.push('huge', bytes(11), 0)).toEqual({ accepted: false, reason: 'bytes' });
  });

  it('outbox - expires entries older than maxAge', () => {
    const outbox = new Outbox({ maxAge: 100 });
    outbox.push('old', bytes(1), 0);
    outbox.push('new', bytes(1), 50);
    expect(outbox.push('newer', bytes(1), 120)).toEqual({ accepted: true, dropped: 1, reason: 'age' });
    expect(outbox.peek()?.channel).toBe('new');
    expect(outbox.expire(1_000)).toBe(2);
    expect(outbox.size).toBe(0);
  });

  it('outbox - take removes the oldest entries; restore puts those not sent back in call order', () => {
    const outbox = new Outbox();
    for (let order = 1; order <= 5; order++) outbox.push(`m${order}`, bytes(2), 0, false, { order });
    const taken = outbox.take(3);
    expect(taken.map((e) => e.channel)).toEqual(['m1', 'm2', 'm3']);
    expect([outbox.size, outbox.bytes]).toEqual([2, 4]);
    outbox.push('m6', bytes(2), 0, false, { order: 6 }); // called while the three were in flight
    outbox.restore([taken[0]!, taken[2]!]); // m2 went out; m1 and m3 failed
    expect([outbox.size, outbox.bytes]).toEqual([5, 10]);
    expect(outbox.take(10).map((e) => e.channel)).toEqual(['m1', 'm3', 'm4', 'm5', 'm6']);
    expect([outbox.size, outbox.bytes, outbox.peek()]).toEqual([0, 0, undefined]);
  });

  it('outbox - stays correct over many cycles (compaction)', () => {
    const outbox = new Outbox({ maxMessages: 100_000 });
    for (let i = 0; i < 5000; i++) outbox.push(String(i), bytes(1), 0);
    for (let i = 0; i < 4000; i++) expect(outbox.shift()?.channel).toBe(String(i));
    for (let i = 5000; i < 6000; i++) outbox.push(String(i), bytes(1), 0);
    expect(outbox.size).toBe(2000);
    expect(outbox.peek()?.channel).toBe('4000');
    expect(outbox.bytes).toBe(2000);
  });
});

describe('resilience gap detector', () => {
  it('gap detector - first message is the baseline, jumps are gaps, repeats are duplicates', () => {
    const gaps = new GapDetector();
    expect(gaps.observe('c', 'A', 'e1', 5)).toBe('ok');
    expect(gaps.observe('c', 'A', 'e1', 6)).toBe('ok');
    expect(gaps.observe('c', 'A', 'e1', 10)).toEqual({
      channel: 'c',
      origin: 'A',
      epoch: 'e1',
      from: 7,
      to: 9,
    });
    expect(gaps.observe('c', 'A', 'e1', 9)).toBe('duplicate');
    expect(gaps.observe('c', 'A', 'e1', 10)).toBe('duplicate');
    expect(gaps.observe('c', 'A', 'e2', 1)).toBe('ok');
    expect(gaps.observe('d', 'A', 'e1', 1)).toBe('ok');
  });

  it('gap detector - a forgotten channel starts a fresh baseline', () => {
    const gaps = new GapDetector();
    gaps.observe('g', 'A', 'e', 1);
    gaps.forgetChannel('g');
    expect(gaps.observe('g', 'A', 'e', 50)).toBe('ok');
    expect(gaps.streams).toBe(1);
    gaps.forgetChannel('g');
    expect(gaps.streams).toBe(0);
  });

  it('gap detector - tracked origins stay at the bound, the least recently heard from forgotten first', () => {
    const gaps = new GapDetector({ maxOrigins: 100 });
    for (let i = 0; i < 30_000; i++) {
      gaps.observe('c', `forged-${i}`, 'e', 1);
      expect(gaps.observe('c', 'busy', 'e', i + 1)).toBe('ok'); // heard from all along: kept
    }
    expect(gaps.origins).toBe(100);
    expect(gaps.streams).toBe(100);
    // 'busy' kept its baseline: a jump is still a gap (a forgotten origin would start afresh: 'ok').
    expect(gaps.observe('c', 'busy', 'e', 30_002)).toMatchObject({ from: 30_001, to: 30_001 });
    expect(gaps.observe('c', 'forged-0', 'e', 5)).toBe('ok');
  });

  it("gap detector - a newer epoch of an origin drops the old epoch's streams and batches", () => {
    const gaps = new GapDetector();
    gaps.observe('c1', 'A', 'e1', 1);
    gaps.observe('c2', 'A', 'e1', 1);
    expect(gaps.firstCopy('A', 'e1', 7)).toBe(true);
    expect(gaps.firstCopy('A', 'e1', 7)).toBe(false);
    expect(gaps.streams).toBe(2);
    expect(gaps.observe('c1', 'A', 'e2', 1)).toBe('ok');
    expect(gaps.origins).toBe(1);
    expect(gaps.streams).toBe(1);
    expect(gaps.firstCopy('A', 'e2', 7)).toBe(true);
  });

  it('gap detector - batches remembered per origin are bounded', () => {
    const gaps = new GapDetector();
    for (let batch = 1; batch <= 10_000; batch++) expect(gaps.firstCopy('A', 'e', batch)).toBe(true);
    expect(gaps.firstCopy('A', 'e', 10_000)).toBe(false);
    expect(gaps.firstCopy('A', 'e', 1)).toBe(true); // long forgotten
    expect(gaps.batches).toBeLessThanOrEqual(256);
  });

  it('gap detector - forgetting an origin drops every one of its streams and batches', () => {
    const gaps = new GapDetector();
    gaps.observe('c1', 'A', 'e', 1);
    gaps.observe('c2', 'A', 'e', 1);
    gaps.observe('c1', 'B', 'e', 1);
    gaps.firstCopy('A', 'e', 1);
    gaps.forgetOrigin('A');
    expect(gaps.origins).toBe(1);
    expect(gaps.streams).toBe(1);
    expect(gaps.batches).toBe(0);
    expect(gaps.observe('c1', 'A', 'e', 9)).toBe('ok');
  });
});

describe('resilience backoff', () => {
  it('backoff - grows exponentially, is capped, and jitters within the spread', () => {
    const opts = { initialDelay: 100, maxDelay: 1000, factor: 2, jitter: 0.5 };
    expect(backoffDelay(0, opts, () => 1)).toBe(100);
    expect(backoffDelay(0, opts, () => 0)).toBe(50);
    expect(backoffDelay(3, opts, () => 1)).toBe(800);
    expect(backoffDelay(10, opts, () => 1)).toBe(1000);
    expect(backoffDelay(10, opts, () => 0)).toBe(500);
  });
});
