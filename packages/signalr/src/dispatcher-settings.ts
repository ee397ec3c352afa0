import type { HubFilter } from './hub-filter.js';
import type { HubServerStats } from './hub-server-stats.js';
import type { InvocationMeter } from './invocation-meter.js';
import type { InvocationTracing } from './invocation-tracing.js';

export interface DispatcherSettings {
  readonly detailedErrors: boolean;
  /** Hub method calls a client may have running at once (streams are not counted). */
  readonly maximumParallelInvocationsPerClient: number;
  /** Calls of a client that may wait for a slot; past that its connection stops reading (backpressure). */
  readonly maximumQueuedInvocationsPerClient: number;
  /** Items a client-to-server stream holds before the connection stops reading (backpressure). */
  readonly streamBufferCapacity: number;
  /** Counts the pauses (shared by every hub of a server). */
  readonly stats: HubServerStats;
  /** Filters of every hub (`HubServerOptions.filters`), before the hub class's own. */
  readonly filters: readonly HubFilter[];
  /** Set when callers are authenticated (a verified JWT): what `true` in `methodAuthorization` asks. */
  readonly jwtSecret: string | undefined;
  /** Times the calls for `hubServer.measurements$` (only while something subscribes). */
  readonly meter: InvocationMeter;
  /** Where tracing is on: a span around each method call. */
  readonly tracing?: InvocationTracing | undefined;
}
