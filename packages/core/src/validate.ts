import { InvalidArgumentError } from './errors.js';

export function requireName(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value === '')
    throw new InvalidArgumentError(`${what} must be a non-empty string.`);
}

export function requireGroupName(value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '')
    throw new InvalidArgumentError('Cannot send to an empty group name.');
}

/** Waits for `done`, or rejects with the signal's reason when it aborts first. */
export function abortable(done: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return done;
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    done.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
