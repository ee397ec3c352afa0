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
