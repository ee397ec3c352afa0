import { InvalidArgumentError } from './errors.js';

export function requireName(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value === '')
    throw new InvalidArgumentError(`${what} must be a non-empty string.`);
}

export function requireGroupName(value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '')
    throw new InvalidArgumentError('Cannot send to an empty group name.');
}

/**
 * A channel prefix is one non-empty segment followed by ':' (`backplane:`, `myapp:`, `tenant-42:`): no other
 * ':' anywhere. With hub names free of ':' as well, a channel name `{prefix}{hub}:{rest}` splits back
 * into its prefix (up to the first ':'), its hub (up to the second) and its target, so two apps with
 * different prefixes or hubs never share a channel (docs/protocol.md, "Channels").
 */
export function requireChannelPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || !/^[^:]+:$/.test(prefix))
    throw new InvalidArgumentError(
      `Channel prefix ${JSON.stringify(prefix)} is not valid: it must be one non-empty segment ending with ':' ` +
        `and containing no other ':' (for example 'myapp:' or 'myapp-prod:'), so that no app's channel names ` +
        `can extend another's.`,
    );
}

/** A hub name is non-empty and contains no ':' (see {@link requireChannelPrefix}). */
export function requireHubName(hub: unknown): asserts hub is string {
  if (typeof hub !== 'string' || hub === '' || hub.includes(':'))
    throw new InvalidArgumentError(
      `Hub name ${JSON.stringify(hub)} is not valid: it must be non-empty and contain no ':'.`,
    );
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
