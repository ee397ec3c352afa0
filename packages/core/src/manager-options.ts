import type { HubProtocol } from '@backplane/hub-protocol';
import { defaultProtocols } from '@backplane/hub-protocol';
import { Channels } from './channels.js';
import type { ResultType } from './client-results.js';
import type { Driver } from './driver.js';
import { createNodeId } from './ids.js';
import { createConsoleLogger, type Logger } from './logger.js';
import { presenceLimits } from './presence-query.js';
import type { LivenessOptions } from './resilience/liveness.js';
import type { OutboxOptions } from './resilience/outbox.js';
import type { TracingOptions } from './tracing-options.js';
import { DEFAULT_MAX_GROUPS_PER_CONNECTION, limitOption, nameLimits, requireNodeId } from './validate.js';

/** Options of `HubLifetimeManager`: the driver, and every default and limit of the manager. */
export interface HubLifetimeManagerOptions {
  /** The driver: one driver per manager. The manager connects it in `start()` and closes it in `close()`. */
  driver: Driver;
  /**
   * The hub's name in channel names: non-empty, without ':' (`InvalidArgumentError` otherwise).
   * @default 'hub'
   */
  hub?: string;
  /**
   * Channel prefix; give each app on a shared broker its own so they never see each other's messages.
   * One non-empty segment ending with ':' and containing no other ':' (`'myapp:'`, `'myapp-prod:'`), so
   * that no app's channel names can extend another's (docs/protocol.md); `InvalidArgumentError` otherwise.
   * @default 'backplane:'
   */
  prefix?: string;
  /**
   * This node's name, shown in logs and health output. The server id (inbox, envelope origin, connection
   * id suffix) is `{nodeId}-{8 hex chars of the epoch}`, so a restarted node is a new server. At most 247
   * characters (server ids stay within 256; connection ids naming a longer one belong to no server).
   * @default a random `node-xxxxxxxx`
   */
  nodeId?: string;
  /**
   * Hub protocols every invocation is serialized for (once per send, on the sender).
   * @default [JSON, MessagePack]
   */
  protocols?: readonly HubProtocol[];
  /**
   * How long a group add/remove for a connection on another server waits for the owner's ack, in ms.
   * @default 30_000
   */
  ackTimeout?: number;
  /** @default a console logger at `BACKPLANE_LOG` level (else 'warn'), tagged with the node id */
  logger?: Logger;
  /**
   * Buffer publishes while the broker is unreachable and flush them in order when it is back; `false`
   * for plain at-most-once (losses are still reported as gaps by the receivers).
   * @default {} (on: 10_000 messages, 16 MiB, 60 s, drop-oldest)
   */
  outbox?: OutboxOptions | false;
  /**
   * The liveness probe through the real publish path; `false` trusts the driver's state alone.
   * @default { probeInterval: 1_000, probeTimeout: 2_000 }
   */
  liveness?: LivenessOptions | false;
  /**
   * With drivers that cannot count receivers (NATS, Kafka): how often each server announces itself, in
   * ms. A server silent for 3 intervals, or one that said goodbye, is gone: client results to its
   * connections fail at once and group commands for them are no-ops.
   * @default 2_000
   */
  presenceInterval?: number;
  /**
   * How long a presence query (`manager.presence`) waits for the other servers' answers by default, in
   * ms; past it the query resolves with what arrived, marked `partial`. A query resolves as soon as every
   * expected server answered; the deadline only matters when one does not.
   * @default 1_000
   */
  presenceTimeout?: number;
  /**
   * The most ids one server puts in one presence answer (`userConnections`, `connectionGroups`), whoever
   * asks; a longer list is cut and the result says `truncated`. It also bounds what this server reads from
   * each answer to its own queries.
   * @default 1_000 ids
   */
  maxPresenceResults?: number;
  /**
   * Durable mode: invocations also land in the driver's bounded log, and after an outage or a gap this
   * server replays what its connections missed, in order and without duplicates; when the log no longer
   * holds the gap it reports `recovered: false` and the exact gap. Needs a {@link DurableDriver}
   * (`isDurableDriver`): any other driver is refused with `InvalidArgumentError` here.
   * @default false
   */
  durable?: boolean;
  /**
   * Reconciliation: called with what this server's connections missed for good (every `gap`: in durable
   * mode only what the log could not fill), batched over `reconcileWindow`. Push fresh state to exactly
   * those groups and users (orders, balances, alerts). Errors it throws are logged.
   */
  reconcile?: (missed: MissedMessages) => void | Promise<void>;
  /** How long gaps are collected into one `reconcile` call, in ms. @default 100 */
  reconcileWindow?: number;
  /**
   * The longest group name accepted, in UTF-16 code units (JavaScript string length). Longer names are
   * refused with `LimitExceededError` by `addToGroup`, `removeFromGroup` and the group sends, before
   * anything reaches the broker; a group command from another server naming one is refused too.
   * @default 256
   */
  maxGroupNameLength?: number;
  /**
   * The longest user id accepted, in UTF-16 code units. `onConnected` refuses a connection whose user id
   * is longer, and `sendUser`/`sendUsers` refuse such ids, with `LimitExceededError`.
   * @default 256
   */
  maxUserIdLength?: number;
  /**
   * How many groups one connection of this server may be in at once (each group is one broker
   * subscription while it has a local member). Joining one more is refused with `LimitExceededError`,
   * whichever server asked.
   * @default 1_000
   */
  maxGroupsPerConnection?: number;
  /**
   * How many other senders (servers and hub contexts, by origin id) this server keeps ordering state for:
   * the last sequence number per channel and the recent `sendGroups` batches (and, where servers announce
   * themselves, their presence entries). Past the bound the least recently heard from is forgotten: its
   * next message starts a fresh baseline, so a loss just before it would go unreported. Besides, a
   * message of another epoch from the same origin replaces the previous epoch's state, and where the
   * driver cannot count receivers a server's state goes when it says goodbye, or 10 minutes after
   * it was presumed gone (silent for 3 presence intervals). `stats.trackedOrigins` shows the count.
   * @default 10_000 origins
   */
  maxTrackedOrigins?: number;
  /**
   * OpenTelemetry tracing (docs/operations.md#tracing): a producer span per published invocation, whose
   * W3C trace context the envelope carries, and a consumer span per invocation received from another
   * server, its child. Through `@opentelemetry/api`, an optional peer dependency loaded once here: when it
   * is not installed, or with `false`, nothing is traced and no send does any tracing work. With the API
   * but no tracing SDK, spans are no-ops and envelopes carry nothing.
   * @default {} (on when `@opentelemetry/api` is installed, to its global tracer provider)
   */
  tracing?: TracingOptions | false;
  /**
   * How many requests about connections (`request`, used by the hub server to serve HTTP transports
   * without sticky sessions) this server may wait for at once, and, separately, answer at once. Past it a
   * request fails at once with `RequestFailedError` (`limit` on the asker, `busy` from the owner).
   * @default 10_000 requests
   */
  maxPendingRequests?: number;
  /**
   * How long a client session's record outlives its last save in the session store (a driver that keeps
   * records: `isSessionStoreDriver`), in ms: the time within which another server can adopt a session whose
   * server died. The holder saves each session at least every third of it, so a live session never
   * expires. Only for hub servers that keep sessions (stateful reconnect).
   * @default 120_000
   */
  sessionTtl?: number;
}

/** What a server's connections missed, for `reconcile`. */
export interface MissedMessages {
  /** Broadcasts (`sendAll`) were missed: every connection may be stale. */
  readonly all: boolean;
  readonly groups: readonly string[];
  readonly users: readonly string[];
  /** Messages addressed to single connections of this server were missed. */
  readonly connections: boolean;
}

/** Options of a client result (`invokeConnection`). */
export interface InvokeOptions<T> {
  /** Cancels the wait: the call rejects with `HubError('Invocation canceled by the server.')`. */
  signal?: AbortSignal;
  /** Validates the client's result; without it the raw value is returned. */
  resultType?: ResultType<T>;
}

/** Options of a group command (`addToGroup`, `removeFromGroup`). */
export interface GroupOptions {
  /** Stops waiting for the owner's ack (the command may still take effect). */
  signal?: AbortSignal;
}

/** The manager's options with every default applied and every limit checked. */
export interface ResolvedManagerOptions {
  readonly nodeId: string;
  /** Channel names under the prefix and hub. */
  readonly channels: Channels;
  readonly protocols: readonly HubProtocol[];
  readonly ackTimeout: number;
  readonly logger: Logger;
  readonly outbox: OutboxOptions | false;
  readonly liveness: LivenessOptions | false;
  readonly presenceInterval: number;
  readonly presenceTimeout: number;
  readonly maxPresenceResults: number;
  readonly durable: boolean;
  readonly reconcile: HubLifetimeManagerOptions['reconcile'];
  readonly reconcileWindow: number;
  readonly maxGroupNameLength: number;
  readonly maxUserIdLength: number;
  readonly maxGroupsPerConnection: number;
  readonly maxTrackedOrigins: number;
  readonly maxPendingRequests: number;
  readonly sessionTtl: number;
}

/** Applies the defaults documented on {@link HubLifetimeManagerOptions}; throws on an invalid node id or limit. */
export function resolveManagerOptions(options: HubLifetimeManagerOptions): ResolvedManagerOptions {
  // Checked in this order: node id, channel prefix and hub name, then the limits.
  const nodeId = requireNodeId(options.nodeId ?? createNodeId());
  const channels = new Channels(options.prefix ?? 'backplane:', options.hub ?? 'hub');
  const { maxGroupNameLength, maxUserIdLength } = nameLimits(options);
  const maxTrackedOrigins = limitOption(options.maxTrackedOrigins, 'maxTrackedOrigins', 10_000);
  const maxGroupsPerConnection = limitOption(
    options.maxGroupsPerConnection,
    'maxGroupsPerConnection',
    DEFAULT_MAX_GROUPS_PER_CONNECTION,
  );
  return {
    nodeId,
    channels,
    protocols: options.protocols ?? defaultProtocols(),
    ackTimeout: options.ackTimeout ?? 30_000,
    logger: options.logger ?? createConsoleLogger(nodeId),
    outbox: options.outbox ?? {},
    liveness: options.liveness ?? {},
    presenceInterval: options.presenceInterval ?? 2_000,
    ...presenceLimits(options),
    durable: options.durable ?? false,
    reconcile: options.reconcile,
    reconcileWindow: options.reconcileWindow ?? 100,
    maxGroupNameLength,
    maxUserIdLength,
    maxGroupsPerConnection,
    maxTrackedOrigins,
    maxPendingRequests: limitOption(options.maxPendingRequests, 'maxPendingRequests', 10_000),
    sessionTtl: limitOption(options.sessionTtl, 'sessionTtl', 120_000),
  };
}
