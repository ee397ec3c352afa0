import { ProtocolError } from '@backplane/hub-protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { boundedLogger, createConsoleLogger, type Logger } from '../src/logger.js';

interface Line {
  level: string;
  message: string;
  fields: Record<string, unknown> | undefined;
}

/** A sink keeping what a bounded logger passes on. */
function sink(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const add = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    lines.push({ level, message, fields });
  return { lines, debug: add('debug'), info: add('info'), warn: add('warn'), error: add('error') };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('logger', () => {
  it('logger - the message, every string field and every error message is cut to maxFieldLength', () => {
    const out = sink();
    const log = boundedLogger(out, { maxFieldLength: 100 });
    const huge = 'x'.repeat(75_000);
    const error = new ProtocolError(`Cannot serialize message as MessagePack: ${huge}`);
    log.warn(`message ${huge}`, { error, text: huge, value: 10n ** 5_000n, nested: { deep: [huge] }, n: 7 });
    const [line] = out.lines;
    expect(line!.message.length).toBeLessThan(200);
    const fields = line!.fields!;
    const bounded = fields.error as Error & { code: string };
    expect(bounded).toBeInstanceOf(Error);
    expect(bounded.name).toBe('ProtocolError');
    expect(bounded.code).toBe('ERR_PROTOCOL');
    expect(bounded.message.length).toBeLessThan(200);
    expect(bounded.message).toContain('(75041 characters)');
    expect(String(bounded.stack).length).toBeLessThan(200);
    expect((fields.text as string).length).toBeLessThan(200);
    expect((fields.value as string).length).toBeLessThan(200);
    expect(JSON.stringify(fields.nested).length).toBeLessThan(200);
    expect(fields.n).toBe(7);
    // Short values pass untouched, errors included.
    const small = new Error('small');
    small.stack = 'Error: small\n    at here'; // stacks may take 4 × maxFieldLength
    log.warn('short', { error: small, text: 'short' });
    expect(out.lines[1]!.fields).toEqual({ error: small, text: 'short' });
    expect(out.lines[1]!.fields!.error).toBe(small);
  });

  it('logger - a repeated line is written rateLimit times per interval, then once as "suppressed K similar messages"', () => {
    const out = sink();
    const log = boundedLogger(out, { rateLimit: 3, rateInterval: 1_000 });
    for (let i = 0; i < 50; i++) log.warn('Hub method failed', { i });
    log.warn('Another line', {});
    expect(out.lines.map((l) => l.message)).toEqual([
      'Hub method failed',
      'Hub method failed',
      'Hub method failed',
      'Another line',
    ]);
    vi.advanceTimersByTime(1_000);
    expect(out.lines.slice(4)).toEqual([
      {
        level: 'warn',
        message: 'Hub method failed: suppressed 47 similar messages',
        fields: { suppressed: 47, intervalMs: 1_000 },
      },
    ]);
    // A new interval starts afresh.
    log.warn('Hub method failed', { i: 50 });
    expect(out.lines).toHaveLength(6);
    vi.advanceTimersByTime(10_000);
    expect(out.lines).toHaveLength(6);
  });

  it('logger - the console logger bounds its lines (1 KiB per field by default) and rate-limits them', () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const log = createConsoleLogger('node-1', { level: 'warn' });
    const error = new ProtocolError(`Cannot serialize message as MessagePack: ${'7'.repeat(75_000)}`);
    for (let i = 0; i < 1_000; i++) log.warn('Hub method result could not be serialized', { error });
    const size = written.reduce((total, line) => total + line.length, 0);
    expect(size).toBeLessThan(40_000); // 1000 × 75 KB unbounded
    expect(written.every((line) => line.length < 1_500)).toBe(true);
    expect(written[0]).toContain('[backplane:node-1] Hub method result could not be serialized');
    vi.advanceTimersByTime(10_000);
    expect(written.at(-1)).toMatch(/suppressed \d+ similar messages/);
  });

  it('logger - the JSON format writes one object per line with time, level, node, message and fields', () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const log = createConsoleLogger('node-2', { level: 'info', format: 'json' });
    log.debug('Not written');
    log.info('Started', { serverId: 'node-2-abc', count: 2n });
    expect(written).toHaveLength(1);
    expect(written[0]!.endsWith('\n')).toBe(true);
    const line = JSON.parse(written[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({
      level: 'info',
      node: 'node-2',
      msg: 'Started',
      serverId: 'node-2-abc',
      count: '2',
    });
    expect(Number.isNaN(Date.parse(String(line.time)))).toBe(false);
  });
});
