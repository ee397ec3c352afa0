import type { ClientUploads } from './client-uploads.js';
import type { HubConnectionContext } from './hub-connection-context.js';
import type { InvocationLimiter } from './invocation-limiter.js';

/**
 * Per-connection dispatch state. The maps and the abort controller are made on first use: most connections
 * never stream, never touch `context.items` and never read `connectionAborted`, and an idle connection's
 * memory is what scenario 5 of the benchmarks measures.
 */
export interface ConnectionState {
  /** Made on the first invocation. */
  limiter: InvocationLimiter | undefined;
  streams: Map<string, AbortController> | undefined;
  /** Client-to-server streams being read by a running method; made on the first one. */
  uploads: ClientUploads | undefined;
  items: Map<unknown, unknown> | undefined;
  aborted: AbortController | undefined;
  closed: boolean;
}

/** The connection's dispatch state, kept on the connection itself (no map entry per connection). */
export function dispatchState(connection: HubConnectionContext): ConnectionState {
  connection.dispatchState ??= {
    limiter: undefined,
    streams: undefined,
    uploads: undefined,
    items: undefined,
    aborted: undefined,
    closed: connection.closed,
  };
  return connection.dispatchState;
}
