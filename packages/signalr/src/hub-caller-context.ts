import type { ConnectionState } from './dispatch-state.js';
import type { HubHttpContext } from './http-request.js';
import type { HubCallerContext } from './hub.js';
import type { HubConnectionContext } from './hub-connection-context.js';
import type { Claims } from './jwt.js';
import type { TransportKind } from './transport-sender.js';

/** A hub instance's `context`: a class, so a call costs one small object (members live on the prototype). */
export class CallerContext implements HubCallerContext {
  readonly #connection: HubConnectionContext;
  readonly #state: ConnectionState;
  constructor(connection: HubConnectionContext, state: ConnectionState) {
    this.#connection = connection;
    this.#state = state;
  }
  get connectionId(): string {
    return this.#connection.connectionId;
  }
  get userIdentifier(): string | undefined {
    return this.#connection.userIdentifier;
  }
  get claims(): Claims {
    return this.#connection.claims;
  }
  get items(): Map<unknown, unknown> {
    this.#state.items ??= new Map();
    return this.#state.items;
  }
  get connectionAborted(): AbortSignal {
    const state = this.#state;
    if (!state.aborted) {
      state.aborted = new AbortController();
      if (state.closed) state.aborted.abort();
    }
    return state.aborted.signal;
  }
  get transport(): TransportKind {
    return this.#connection.transport.kind;
  }
  get http(): HubHttpContext {
    return this.#connection.request;
  }
  abort(): void {
    this.#connection.close();
  }
}
