import { InvalidArgumentError, LimitExceededError } from './errors.js';
import { MAX_NODE_ID_LENGTH } from './ids.js';

export function requireName(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value === '')
    throw new InvalidArgumentError(`${what} must be a non-empty string.`);
}

/** Defaults of the name and membership limits (`HubLifetimeManagerOptions`, `HubContextOptions`). */
export const DEFAULT_MAX_GROUP_NAME_LENGTH = 256;
export const DEFAULT_MAX_USER_ID_LENGTH = 256;
export const DEFAULT_MAX_GROUPS_PER_CONNECTION = 1_000;

/** A non-empty group name of at most `maxLength` UTF-16 code units. */
export function requireGroupName(value: unknown, maxLength: number): asserts value is string {
  if (typeof value !== 'string' || value === '')
    throw new InvalidArgumentError('Cannot send to an empty group name.');
  if (value.length > maxLength) throw tooLong('Group name', value, 'maxGroupNameLength', maxLength);
}

/** A non-empty user id of at most `maxLength` UTF-16 code units. */
export function requireUserId(value: unknown, maxLength: number): asserts value is string {
  requireName(value, 'User id');
  if (value.length > maxLength) throw tooLong('User id', value, 'maxUserIdLength', maxLength);
}

/** A connection's user id, where empty or absent means anonymous: only its length is bounded. */
export function requireUserIdentifier(value: string | undefined, maxLength: number): void {
  if (value && value.length > maxLength) throw tooLong('User id', value, 'maxUserIdLength', maxLength);
}

function tooLong(
  what: string,
  value: string,
  limit: 'maxGroupNameLength' | 'maxUserIdLength',
  max: number,
): LimitExceededError {
  // The name itself may be huge: quote only its start.
  const start = value.length > 32 ? `${value.slice(0, 32)}…` : value;
  return new LimitExceededError(
    limit,
    max,
    `${what} '${start}' is ${value.length} characters long; the limit (${limit}) is ${max}.`,
  );
}

/** A node id short enough for its server id to stay within `MAX_SERVER_ID_LENGTH`. */
export function requireNodeId(nodeId: string): string {
  if (nodeId.length > MAX_NODE_ID_LENGTH)
    throw new InvalidArgumentError(
      `nodeId is ${nodeId.length} characters long; at most ${MAX_NODE_ID_LENGTH} are allowed.`,
    );
  return nodeId;
}

/** The name limits a manager and a hub context both enforce on what they send. */
export interface NameLimits {
  readonly maxGroupNameLength: number;
  readonly maxUserIdLength: number;
}

/** Resolves and checks the name limit options (defaults: {@link DEFAULT_MAX_GROUP_NAME_LENGTH}, …). */
export function nameLimits(options: { maxGroupNameLength?: number; maxUserIdLength?: number }): NameLimits {
  return {
    maxGroupNameLength: limitOption(
      options.maxGroupNameLength,
      'maxGroupNameLength',
      DEFAULT_MAX_GROUP_NAME_LENGTH,
    ),
    maxUserIdLength: limitOption(options.maxUserIdLength, 'maxUserIdLength', DEFAULT_MAX_USER_ID_LENGTH),
  };
}

/** A limit option: a positive integer, or `undefined` for the default. */
export function limitOption(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1)
    throw new InvalidArgumentError(`${name} must be a positive integer (got ${String(value)}).`);
  return value;
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
