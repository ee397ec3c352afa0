import { InvalidArgumentError } from '@backplane/core';
import type { HubProtocol } from '@backplane/hub-protocol';
import type { TransportKind } from './transport-sender.js';

/** The three transports, in the order negotiate lists them. */
export const TRANSPORT_KINDS: readonly TransportKind[] = ['WebSockets', 'ServerSentEvents', 'LongPolling'];

/**
 * Options of one endpoint's transports (ASP.NET Core's `HttpConnectionDispatcherOptions`), given to
 * `mapHub` or `mapConnectionHandler`. Each left out is the `HubServer`'s.
 */
export interface TransportOptions {
  /**
   * The transports clients may use. Negotiate lists only these; a request on another gets 404
   * `{transport} transport not supported by this end point type`, as in ASP.NET Core.
   * @default the HubServer's `transports` (all three)
   */
  transports?: readonly TransportKind[];
  /** Long polling: how long a poll waits for data, in ms. @default the HubServer's `pollTimeout` (90_000) */
  pollTimeout?: number;
  /**
   * Long polling: close a connection with no poll for this long; stateful reconnect: how long a dropped
   * WebSocket may take to come back, in ms. @default the HubServer's `disconnectTimeout` (15_000)
   */
  disconnectTimeout?: number;
  /**
   * Largest message a client may send, in bytes; a larger one closes its connection with an error.
   * @default the HubServer's `maximumReceiveMessageSize` (32_768)
   */
  maximumReceiveMessageSize?: number;
  /**
   * Bytes that may wait to be sent to one client before it is closed as a slow consumer (see
   * `HubServerOptions.transportMaxBufferSize`). @default the HubServer's `transportMaxBufferSize` (1_048_576)
   */
  transportMaxBufferSize?: number;
  /**
   * With `HubServerOptions.jwtSecret`: close a connection once its JWT expires (`exp` plus `jwtClockSkew`),
   * checked once a second and on each long-polling poll and send (401 after the expiry).
   * @default the HubServer's `closeOnAuthenticationExpiration` (false)
   */
  closeOnAuthenticationExpiration?: boolean;
}

/**
 * Options of one connection handler, given to `mapConnectionHandler` (ASP.NET Core's
 * `MapConnectionHandler<T>(path, options => …)`). Each transport option left out is the `HubServer`'s.
 */
export interface ConnectionHandlerOptions extends TransportOptions {
  /**
   * Bytes of messages the handler has not read yet. Past that the server stops reading the client
   * (WebSockets: the socket is paused; long polling and Server-Sent Events: its POST is answered later)
   * until the handler has read half of them (ASP.NET Core's `ApplicationMaxBufferSize`). A single larger
   * message is still delivered. @default 65_536 (bytes)
   */
  applicationMaxBufferSize?: number;
}

/**
 * Options of one hub, given to `mapHub` (ASP.NET Core's `MapHub<T>(path, options => …)` together with
 * `AddHubOptions<T>`). Each left out is the `HubServer`'s, so a hub states only how it differs.
 */
export interface HubOptions extends TransportOptions {
  /** Ping the client after this long without sending, in ms. @default the HubServer's `keepAliveInterval` (15_000) */
  keepAliveInterval?: number;
  /** Close a client silent for this long, in ms. @default the HubServer's `clientTimeoutInterval` (30_000) */
  clientTimeoutInterval?: number;
  /**
   * Close a connection whose handshake has not arrived after this long, in ms.
   * @default the HubServer's `handshakeTimeout` (15_000)
   */
  handshakeTimeout?: number;
  /**
   * Stateful reconnect: bytes of unacknowledged messages kept per connection for the resend; 0 turns the
   * feature off for this hub (negotiate then never offers it). @default the HubServer's
   * `statefulReconnectBufferSize` (100_000)
   */
  statefulReconnectBufferSize?: number;
  /**
   * Keep each stateful connection's session in the lifetime manager's session store (a driver that keeps
   * records), so that when this node dies or shuts down, the node the client reconnects to adopts the
   * session: same connection id, its groups, what it had not acknowledged (and, in durable mode, what its
   * channels' logs hold for it since). Costs one store write per client acknowledgement (about one a
   * second while a client receives) and per invocation result. @default the HubServer's `keepSessions` (true)
   */
  keepSessions?: boolean;
  /**
   * Hub method calls one client may have running at once (streams are not counted).
   * @default the HubServer's `maximumParallelInvocationsPerClient` (1)
   */
  maximumParallelInvocationsPerClient?: number;
  /**
   * Calls of one client that may wait for a free slot before the server stops reading it, in calls.
   * @default the HubServer's `maximumQueuedInvocationsPerClient` (32)
   */
  maximumQueuedInvocationsPerClient?: number;
  /**
   * Items one client-to-server stream holds that its method has not read yet, in items.
   * @default the HubServer's `streamBufferCapacity` (10)
   */
  streamBufferCapacity?: number;
  /** Put exception details in error completions and Close messages. @default the HubServer's `enableDetailedErrors` (false) */
  enableDetailedErrors?: boolean;
  /**
   * The hub protocols this hub offers, at most those its lifetime manager serializes for (`mapHub` refuses
   * others with `InvalidArgumentError`). @default the HubServer's `protocols`, else the manager's
   */
  protocols?: readonly HubProtocol[];
}

/** Options that hold a positive number (a duration in ms, a size in bytes, a count). */
const POSITIVE = [
  'keepAliveInterval',
  'clientTimeoutInterval',
  'handshakeTimeout',
  'maximumReceiveMessageSize',
  'pollTimeout',
  'disconnectTimeout',
  'maximumParallelInvocationsPerClient',
  'transportMaxBufferSize',
] as const;

/**
 * Checks the options a `HubServer` and a hub have in common; `owner` names the options object in the
 * message (`HubServerOptions` or `HubOptions`). Throws `InvalidArgumentError`.
 */
export function validateHubOptions(options: HubOptions, owner: string): void {
  for (const key of POSITIVE) {
    const value = options[key];
    if (value !== undefined && !(Number.isFinite(value) && value > 0))
      throw new InvalidArgumentError(`${owner}.${key} must be a positive number.`);
  }
  const queued = options.maximumQueuedInvocationsPerClient;
  if (queued !== undefined && !(Number.isInteger(queued) && queued >= 0))
    throw new InvalidArgumentError(
      `${owner}.maximumQueuedInvocationsPerClient must be an integer, 0 or more.`,
    );
  const capacity = options.streamBufferCapacity;
  if (capacity !== undefined && !(Number.isInteger(capacity) && capacity > 0))
    throw new InvalidArgumentError(`${owner}.streamBufferCapacity must be a positive integer.`);
  const buffer = options.statefulReconnectBufferSize;
  if (buffer !== undefined && !(Number.isFinite(buffer) && buffer >= 0))
    throw new InvalidArgumentError(`${owner}.statefulReconnectBufferSize must be 0 or more.`);
  validateTransports(options.transports, owner);
}

/** Checks a connection handler's options like the server's. Throws `InvalidArgumentError`. */
export function validateConnectionHandlerOptions(options: ConnectionHandlerOptions): void {
  const owner = 'ConnectionHandlerOptions';
  for (const key of [
    'pollTimeout',
    'disconnectTimeout',
    'maximumReceiveMessageSize',
    'transportMaxBufferSize',
    'applicationMaxBufferSize',
  ] as const) {
    const value = options[key];
    if (value !== undefined && !(Number.isFinite(value) && value > 0))
      throw new InvalidArgumentError(`${owner}.${key} must be a positive number.`);
  }
  validateTransports(options.transports, owner);
}

function validateTransports(transports: readonly TransportKind[] | undefined, owner: string): void {
  if (transports === undefined) return;
  if (!Array.isArray(transports) || transports.length === 0)
    throw new InvalidArgumentError(`${owner}.transports must list at least one transport.`);
  for (const transport of transports)
    if (!TRANSPORT_KINDS.includes(transport))
      throw new InvalidArgumentError(
        `${owner}.transports: '${String(transport)}' is not a transport (${TRANSPORT_KINDS.join(', ')}).`,
      );
}

/** `base` with every option `overrides` sets (an option set to `undefined` is left out, not cleared). */
export function overlay<T extends object>(base: T, overrides: Partial<T> | undefined): T {
  if (!overrides) return base;
  const merged = { ...base };
  for (const key of Object.keys(overrides) as Array<keyof T>) {
    const value = overrides[key];
    if (value !== undefined) merged[key] = value as T[keyof T];
  }
  return merged;
}
