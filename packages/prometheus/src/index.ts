// Registration
export type { BackplaneMetrics } from './register-backplane-metrics.js';
export { registerBackplaneMetrics } from './register-backplane-metrics.js';

// Options
export type { BackplaneMetricsOptions, BackplaneMetricsSources, MetricsRegistry } from './options.js';
export { DEFAULT_INVOCATION_BUCKETS, DEFAULT_PUBLISH_BUCKETS } from './options.js';

// Labels
export { UNKNOWN_METHOD } from './labels.js';
