import { InvalidArgumentError } from './errors.js';

/** Log levels, quietest last. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** What core and drivers log through. Every line carries the node id of the server that wrote it. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Bounds on what a logger writes, so that no input (a huge argument echoed in an error message, a client
 * repeating a bad request) can make a log line, or the log, large.
 */
export interface LogLimits {
  /**
   * Longest text written for the message and for each field, in characters: strings, error messages,
   * bigints, and other values once serialized (an error's stack may take 4 times as much). Longer ones are
   * cut, with a note of their length.
   * @default 1_024
   */
  maxFieldLength?: number;
  /**
   * Lines with the same level and message text written per `rateInterval`; the others are counted, and
   * one line "<message>: suppressed K similar messages" is written when the interval ends.
   * @default 20
   */
  rateLimit?: number;
  /** The window of `rateLimit`, in ms. @default 10_000 */
  rateInterval?: number;
}

/** The defaults of {@link LogLimits}. */
export const DEFAULT_LOG_LIMITS: Readonly<Required<LogLimits>> = Object.freeze({
  maxFieldLength: 1_024,
  rateLimit: 20,
  rateInterval: 10_000,
});

/** Distinct lines tracked for rate limiting before the idle ones are forgotten (messages are constants). */
const MAX_TRACKED_LINES = 1_000;

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
const levels = ['debug', 'info', 'warn', 'error'] as const;
type WrittenLevel = (typeof levels)[number];

/** Options of {@link createConsoleLogger}. */
export interface ConsoleLoggerOptions {
  /** The lowest level written. @default the `BACKPLANE_LOG` environment variable, else 'warn' */
  level?: LogLevel | undefined;
  /** @default {@link DEFAULT_LOG_LIMITS} */
  limits?: LogLimits | undefined;
  /**
   * `text`: `<time> WARN [backplane:<nodeId>] message {fields}`; `json`: one object per line,
   * `{"time","level","node","msg",...fields}`, for log collectors. @default 'text'
   */
  format?: LogFormat | undefined;
}

/** How {@link createConsoleLogger} writes a line. */
export type LogFormat = 'text' | 'json';

/**
 * A logger writing to stderr at `level` and above, each line carrying the node id, bounded and with
 * repeated lines rate-limited by `limits`.
 */
export function createConsoleLogger(nodeId: string, options: ConsoleLoggerOptions = {}): Logger {
  const envLevel = process.env.BACKPLANE_LOG as LogLevel | undefined;
  const min = rank[options.level ?? (envLevel && envLevel in rank ? envLevel : 'warn')];
  const json = options.format === 'json';
  const write = (at: WrittenLevel) => (message: string, fields?: Record<string, unknown>) => {
    const time = new Date().toISOString();
    process.stderr.write(
      json
        ? `${safeJson({ ...fields, time, level: at, node: nodeId, msg: message })}\n`
        : `${time} ${at.toUpperCase()} [backplane:${nodeId}] ${message}${fields ? ` ${safeJson(fields)}` : ''}\n`,
    );
  };
  const bounded = boundedLogger(
    { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') },
    options.limits,
  );
  // Lines below the level are dropped before they count against the rate limit.
  const at = (l: WrittenLevel) => (rank[l] < min ? () => {} : bounded[l]);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * Wraps `logger` so that every line it receives is bounded: the message and each field cut to
 * `maxFieldLength` (an error too long is passed as a cut copy, still an `Error` with its name and code),
 * and a line repeated more than `rateLimit` times within `rateInterval` (same level, same message text)
 * summarized by one "suppressed K similar messages" line at the end of the interval. Short values pass
 * untouched.
 * @param limits @default {@link DEFAULT_LOG_LIMITS}
 */
export function boundedLogger(logger: Logger, limits: LogLimits = {}): Logger {
  for (const key of ['maxFieldLength', 'rateLimit', 'rateInterval'] as const) {
    const value = limits[key];
    if (value !== undefined && !(Number.isFinite(value) && value > 0))
      throw new InvalidArgumentError(`LogLimits.${key} must be a positive number.`);
  }
  const { maxFieldLength, rateLimit, rateInterval } = { ...DEFAULT_LOG_LIMITS, ...limits };
  const windows = new Map<string, RateWindow>();
  const write = (at: WrittenLevel, message: string, fields?: Record<string, unknown>): void => {
    const key = `${at}\u0000${message}`;
    const now = Date.now();
    let window = windows.get(key);
    if (!window || (now - window.start >= rateInterval && window.suppressed === 0)) {
      if (!window && windows.size >= MAX_TRACKED_LINES) forgetIdle(windows, now, rateInterval);
      window = { start: now, written: 0, suppressed: 0 };
      windows.set(key, window);
    }
    if (window.written >= rateLimit) {
      if (window.suppressed++ === 0) {
        const summary = window;
        const timer = setTimeout(
          () => {
            if (windows.get(key) === summary) windows.delete(key);
            logger[at](`${cut(message, maxFieldLength)}: suppressed ${summary.suppressed} similar messages`, {
              suppressed: summary.suppressed,
              intervalMs: rateInterval,
            });
          },
          Math.max(0, summary.start + rateInterval - now),
        );
        timer.unref?.();
      }
      return;
    }
    window.written++;
    logger[at](cut(message, maxFieldLength), fields && boundFields(fields, maxFieldLength));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

interface RateWindow {
  start: number;
  written: number;
  /** Lines dropped in this window; a summary is due at its end when above 0. */
  suppressed: number;
}

function forgetIdle(windows: Map<string, RateWindow>, now: number, interval: number): void {
  for (const [key, window] of windows)
    if (window.suppressed === 0 && now - window.start >= interval) windows.delete(key);
  if (windows.size < MAX_TRACKED_LINES) return;
  for (const [key, window] of windows) if (window.suppressed === 0) windows.delete(key);
}

/** `text` itself when short enough, else its first `max` characters and a note of its length. */
function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

function boundFields(fields: Record<string, unknown>, max: number): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(fields)) {
    const bounded = boundValue(value, max);
    if (bounded !== value) {
      out ??= { ...fields };
      out[key] = bounded;
    }
  }
  return out ?? fields;
}

/** `value` itself when its text fits in `max` characters, else a cut stand-in. */
function boundValue(value: unknown, max: number): unknown {
  if (typeof value === 'string') return cut(value, max);
  if (typeof value === 'bigint') {
    const text = value.toString();
    return text.length <= max ? value : cut(text, max);
  }
  if (value instanceof Error) {
    const stack = value.stack ?? '';
    if (value.message.length <= max && stack.length <= max * 4) return value;
    const copy = new Error(cut(value.message, max));
    copy.name = value.name;
    copy.stack = cut(stack, max);
    const code = (value as { code?: unknown }).code;
    return code === undefined ? copy : Object.assign(copy, { code });
  }
  if (typeof value !== 'object' || value === null) return value;
  const text = safeJson(value);
  return text.length <= max ? value : cut(text, max);
}

function safeJson(value: object): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) =>
      v instanceof Error
        ? { name: v.name, message: v.message, code: (v as { code?: unknown }).code }
        : typeof v === 'bigint'
          ? v.toString()
          : v,
    );
  } catch {
    return '{"fields":"unserializable"}';
  }
}
