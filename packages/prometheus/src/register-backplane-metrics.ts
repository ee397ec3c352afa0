import { InvalidArgumentError } from '@backplane/core';
import { registerHubServerMetrics } from './hub-server-metrics.js';
import { registerManagerMetrics } from './manager-metrics.js';
import { MetricSet } from './metric-set.js';
import {
  type BackplaneMetricsOptions,
  type BackplaneMetricsSources,
  type MetricsRegistry,
  resolveOptions,
} from './options.js';

/** What {@link registerBackplaneMetrics} registered. */
export interface BackplaneMetrics {
  /**
   * Stops the measurements (hub method calls and publishes are no longer timed for these metrics) and
   * removes every metric this registration made from the registry. Idempotent.
   */
  unregister(): void;
}

/**
 * Registers a backplane node's metrics in `registry` (yours, or prom-client's default `register`): what
 * the lifetime manager and the hub server count, read when the registry is scraped, and, unless
 * `measurements` is false, hub method calls and publishes counted and timed as they happen (the only
 * metrics with a cost per operation, paid only while registered). No label carries a connection id, a
 * group or a user name: the number of series does not grow with traffic. The metrics and their labels are
 * listed in the package README. Throws `InvalidArgumentError` for invalid options, and what prom-client
 * throws when a metric of the same name is registered already (nothing is left registered then).
 */
export function registerBackplaneMetrics(
  registry: MetricsRegistry,
  sources: BackplaneMetricsSources,
  options: BackplaneMetricsOptions = {},
): BackplaneMetrics {
  const resolved = resolveOptions(options);
  const managers = sources.manager === undefined ? [] : [sources.manager].flat();
  if (managers.length === 0 && sources.hubServer === undefined)
    throw new InvalidArgumentError('registerBackplaneMetrics needs a manager, a hubServer, or both.');
  const set = new MetricSet(registry, resolved.prefix);
  try {
    if (managers.length > 0) registerManagerMetrics(set, managers, resolved);
    if (sources.hubServer) registerHubServerMetrics(set, sources.hubServer, resolved);
  } catch (error) {
    set.close();
    throw error;
  }
  return { unregister: () => set.close() };
}
