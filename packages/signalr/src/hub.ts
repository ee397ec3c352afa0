import type { HubPresence } from '@backplane/core';
import type { AuthorizationRule, MethodAuthorization } from './authorization.js';
import type { HubHttpContext } from './http-request.js';
import type { GroupManager, HubCallerClients } from './hub-clients.js';
import type { HubFilter } from './hub-filter.js';
import type { Claims } from './jwt.js';
import type { MethodSchemas } from './standard-schema.js';
import type { TransportKind } from './transport-sender.js';

/** Who is calling, inside a hub method. */
export interface HubCallerContext {
  readonly connectionId: string;
  /** From the JWT (`sub` by default, see `userIdProvider`), or undefined when anonymous. */
  readonly userIdentifier: string | undefined;
  readonly claims: Claims;
  /** State kept for this connection across calls (SignalR's `Context.Items`). */
  readonly items: Map<unknown, unknown>;
  /** Aborted when the connection ends. */
  readonly connectionAborted: AbortSignal;
  /** The transport the connection runs on (SignalR's `IHttpTransportFeature.TransportType`). */
  readonly transport: TransportKind;
  /**
   * The HTTP request that opened the transport: headers, query, cookies, remote address (SignalR's
   * `Context.GetHttpContext()`), without the access token and the connection token.
   */
  readonly http: HubHttpContext;
  /** Closes this connection (the client is sent a Close message). */
  abort(): void;
}

/**
 * Base class of hubs. A new instance serves each call (like SignalR), with `clients`, `groups`,
 * `context` and `presence` set. Public methods are callable by clients (names match case-insensitively,
 * `_`-prefixed ones are not); a method may return a value or a promise of one. An `async *` method (or
 * one returning an async iterable) streams to the client and gets an `AbortSignal` after the client's
 * arguments, aborted when the client cancels the stream or leaves. A client must pass exactly as many arguments as
 * the method declares (`Function.length`: default and rest parameters are not counted), client-to-server
 * streams included.
 *
 * Client-to-server streams (a `Subject` the client passes to `send`, `invoke` or `stream`; the client sends
 * it as a stream id, not as an argument) fill the method's LAST parameters, after its ordinary arguments
 * (and before the `AbortSignal` of an `async *` method), in the order the client passed them, wherever
 * they were among the client's arguments: `invoke('Upload', 'a.txt', subject)` and
 * `invoke('Upload', subject, 'a.txt')` both call `Upload(name, chunks)`. Each is an `AsyncIterable` of the
 * client's items, ending when the client completes the subject; it throws a `ClientStreamError` when the
 * client errors it or the connection closes. A call with streams answers when the method returns (read the
 * streams before returning: later items are dropped) and does not wait behind the client's other calls.
 * Throw a
 * `HubError` to send its message to the caller; other errors are hidden unless detailed errors are on.
 */
export abstract class Hub {
  clients!: HubCallerClients;
  groups!: GroupManager;
  context!: HubCallerContext;
  /**
   * Who is online on every node of this hub: connection counts of the hub, a group or a user, whether a
   * user is online, a user's connections, a connection's groups (the lifetime manager's `presence`).
   */
  presence!: HubPresence;

  /** Called once the connection is established (after the handshake). */
  onConnected(): void | Promise<void> {}

  /** Called when the connection ends; `error` when it ended badly. */
  onDisconnected(_error?: Error): void | Promise<void> {}
}

/**
 * A hub class, as given to `mapHub`, with what it may declare as static members (plain class fields: no
 * decorators needed, in TypeScript or JavaScript).
 *
 * ```ts
 * class ChatHub extends Hub {
 *   static filters = [auditFilter];
 *   static authorize: AuthorizationRule = true;
 *   static methodAuthorization = {
 *     DeleteMessage: (claims) => claims.role === 'moderator',
 *   } satisfies MethodAuthorization;
 *   static schemas = { SendMessage: [z.string(), z.string().max(500)] };
 *   async SendMessage(user: string, message: string) { ... }
 * }
 * ```
 */
export interface HubClass {
  /** A hub class has a constructor without parameters: a new instance serves each call. */
  new (): Hub;
  /**
   * Filters of this hub, run after `HubServerOptions.filters`, in this order (see {@link HubFilter}).
   * @default none
   */
  readonly filters?: readonly HubFilter[];
  /**
   * Who may connect (ASP.NET Core's `[Authorize]` on a hub), checked at negotiate and at the WebSocket
   * upgrade of a client that skips negotiation (a connection token is only issued once it passed): a refused
   * anonymous caller gets 401, a refused authenticated one 403.
   * @default undefined (anyone who passes authentication)
   */
  readonly authorize?: AuthorizationRule;
  /**
   * Who may call which method (ASP.NET Core's `[Authorize]` on a method), by method name, checked on every
   * call, before the filters: a refused call answers `Failed to invoke 'X' because user is unauthorized`
   * (a send gets nothing back) and runs nothing. Every name must be a method clients can call.
   * @default undefined (every method open to every connection)
   */
  readonly methodAuthorization?: MethodAuthorization;
  /**
   * Validators of the client's arguments, by method name, one per argument in order (Standard Schema v1:
   * zod, valibot, arktype, or any object with a `~standard.validate`). A call whose arguments do not
   * validate answers SignalR's binding failure (`Failed to invoke 'X' due to an error on the server.`, with
   * `enableDetailedErrors` followed by `InvalidDataException: Error binding arguments. ...`; a send gets
   * nothing back) and runs nothing; otherwise the method, and the filters, get the values the validators
   * returned. Checked before authorization, as SignalR binds before it authorizes.
   * @default undefined (arguments reach the method as the client sent them)
   */
  readonly schemas?: MethodSchemas;
}
