import type { Logger } from '@backplane/core';
import { isClientAbort } from './client-abort.js';

/**
 * Wraps a listener the hub server registers on a Node object (an http request or upgrade, a socket event, a
 * response event, a hub message): whatever it throws, synchronously or as a rejected promise, goes to
 * {@link recoverFrom}, which logs it and runs `recover` to answer or close the one request or connection
 * concerned. Nothing a client sends can then take the process down.
 *
 * @param what names the listener in the log line (a constant: it is the rate-limiting key).
 * @param context fields for the log line, computed only on failure (never the query string: it holds secrets).
 */
export function guard<A extends unknown[]>(
  log: Logger,
  what: string,
  listener: (...args: A) => unknown,
  recover?: (error: unknown, ...args: A) => void,
  context?: (...args: A) => Record<string, unknown>,
): (...args: A) => void {
  return (...args: A): void => {
    const fail = (error: unknown): void =>
      recoverFrom(
        log,
        what,
        error,
        recover && (() => recover(error, ...args)),
        context && (() => context(...args)),
      );
    try {
      const result = listener(...args);
      if (isPromiseLike(result)) result.then(undefined, fail);
    } catch (error) {
      fail(error);
    }
  };
}

/** Watches a promise already started: a rejection is handled as {@link guard} handles a throw. */
export function guardPromise(
  log: Logger,
  what: string,
  task: PromiseLike<unknown>,
  recover?: (error: unknown) => void,
): void {
  task.then(undefined, (error: unknown) => recoverFrom(log, what, error, recover && (() => recover(error))));
}

/**
 * Handles a failure of `what`: logs it (at debug when the client went away, else at warn; the server's
 * logger bounds and rate-limits lines), then runs `recover`. Never throws: a failing recovery or logger is
 * logged or ignored.
 */
export function recoverFrom(
  log: Logger,
  what: string,
  error: unknown,
  recover?: () => void,
  fields?: () => Record<string, unknown>,
): void {
  report(log, what, error, fields);
  if (!recover) return;
  try {
    recover();
  } catch (e) {
    report(log, `${what} recovery`, e, fields);
  }
}

function report(
  log: Logger,
  what: string,
  error: unknown,
  fields: (() => Record<string, unknown>) | undefined,
): void {
  try {
    const all = { ...fields?.(), error };
    if (isClientAbort(error)) log.debug(`${what}: the client went away`, all);
    else log.warn(`${what} failed`, all);
  } catch {
    // a logger that throws must not turn a handled failure into a crash
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** A thrown value as an `Error` (what `close(error)` takes). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
