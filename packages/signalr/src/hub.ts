import type { GroupManager, HubCallerClients } from './hub-clients.js';
import type { Claims } from './jwt.js';

/** Who is calling, inside a hub method. */
export interface HubCallerContext {
  readonly connectionId: string;
  /** From the JWT (`sub` by default, see `userIdProvider`), or undefined when anonymous. */
  readonly userIdentifier: string | undefined;
  readonly claims: Claims;
  /** Closes this connection. */
  abort(): void;
}

/**
 * Base class of hubs. A new instance serves each call (like SignalR), with `clients`, `groups` and
 * `context` set. Public methods are callable by clients (names match case-insensitively); a method may
 * return a value, a promise, or an async iterable (streamed to the client).
 */
export abstract class Hub {
  clients!: HubCallerClients;
  groups!: GroupManager;
  context!: HubCallerContext;

  /** Called once the connection is established (after the handshake). */
  onConnected(): void | Promise<void> {}

  /** Called when the connection ends; `error` when it ended badly. */
  onDisconnected(_error?: Error): void | Promise<void> {}
}

/** A hub class, as given to `mapHub`. */
export type HubClass = new () => Hub;
