import { type HubLifetimeManager, InvalidArgumentError } from '@backplane/core';
import type { HubServer } from '@backplane/signalr';
import type { OpenMetricsContentType, PrometheusContentType, Registry } from 'prom-client';

/** A prom-client registry, of either content type. */
export type MetricsRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

/** What to report on; give either or both. */
export interface BackplaneMetricsSources {
  /**
   * The lifetime manager: backplane publishes and receives, publish latency, the link, outages, the
   * outbox, losses (gaps, drops, malformed input), deliveries to local connections. Several (one per hub)
   * are summed, and `backplane_link_up` is 1 only while every one of them is up.
   * @default undefined (none of those metrics)
   */
  manager?: HubLifetimeManager | readonly HubLifetimeManager[];
  /**
   * The hub server: connections by transport and protocol, hub method calls by hub, method and outcome
   * with their durations, frames and records sent, slow consumers, receive pauses.
   * @default undefined (none of those metrics)
   */
  hubServer?: HubServer;
}

/** How {@link registerBackplaneMetrics} names and measures; every option has a default. */
export interface BackplaneMetricsOptions {
  /**
   * Put before every metric name: Prometheus's naming rules apply (letters, digits, `_` and `:`, not
   * starting with a digit). @default 'backplane_'
   */
  prefix?: string;
  /**
   * Subscribe to `manager.measurements$` and `hubServer.measurements$` for the metrics made per operation:
   * the invocation counter, the invocation duration histogram and the publish duration histogram. `false`:
   * only the counters and gauges read when scraped, and no hub method call or publish is timed.
   * @default true
   */
  measurements?: boolean;
  /**
   * Upper bounds of the buckets of the invocation duration histogram, in seconds, increasing.
   * @default DEFAULT_INVOCATION_BUCKETS (1 ms to 10 s)
   */
  invocationBuckets?: readonly number[];
  /**
   * Upper bounds of the buckets of the publish duration histogram, in seconds, increasing.
   * @default DEFAULT_PUBLISH_BUCKETS (100 µs to 1 s)
   */
  publishBuckets?: readonly number[];
}

/** Invocation duration buckets, in seconds: 1 ms to 10 s. */
export const DEFAULT_INVOCATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Publish duration buckets, in seconds: 100 µs to 1 s (a broker on the same network answers in about 1 ms). */
export const DEFAULT_PUBLISH_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

/** The options with their defaults, checked. */
export interface ResolvedOptions {
  readonly prefix: string;
  readonly measurements: boolean;
  readonly invocationBuckets: number[];
  readonly publishBuckets: number[];
}

const NAME_PREFIX = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

/** Resolves the defaults; invalid options throw `InvalidArgumentError`. */
export function resolveOptions(options: BackplaneMetricsOptions): ResolvedOptions {
  const prefix = options.prefix ?? 'backplane_';
  if (typeof prefix !== 'string' || !NAME_PREFIX.test(prefix))
    throw new InvalidArgumentError(
      `BackplaneMetricsOptions.prefix must be letters, digits, '_' or ':', not starting with a digit (got '${String(prefix)}').`,
    );
  return {
    prefix,
    measurements: options.measurements ?? true,
    invocationBuckets: buckets(options.invocationBuckets ?? DEFAULT_INVOCATION_BUCKETS, 'invocationBuckets'),
    publishBuckets: buckets(options.publishBuckets ?? DEFAULT_PUBLISH_BUCKETS, 'publishBuckets'),
  };
}

function buckets(bounds: readonly number[], name: string): number[] {
  const ok =
    Array.isArray(bounds) &&
    bounds.length > 0 &&
    bounds.every(
      (b, i) => typeof b === 'number' && Number.isFinite(b) && b > 0 && (i === 0 || b > bounds[i - 1]!),
    );
  if (!ok)
    throw new InvalidArgumentError(
      `BackplaneMetricsOptions.${name} must be positive, finite numbers of seconds in increasing order.`,
    );
  return [...bounds];
}
