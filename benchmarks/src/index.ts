// Running the suite
export type { BenchArgs } from './args.js';
export { HELP, parseBenchArgs } from './args.js';
export { runBenchCommand } from './bench-command.js';
export type { BrokerDriver, DriverName } from './brokers.js';
export type { Mode, ScenarioName, Sizes } from './presets.js';
export { PRESETS, SCENARIOS } from './presets.js';
// Results and the report
export type { Rendered } from './report/markdown.js';
export { renderReport, TARGETS } from './report/markdown.js';
export type { ChartRow, ChartSpec } from './report/svg.js';
export { barChart } from './report/svg.js';
export type { Environment } from './report/versions.js';
export type { BenchOptions, BenchResults } from './run.js';
export { runBenchmarks } from './run.js';
// Scenario results
export type { BroadcastResult } from './scenarios/broadcast.js';
export type { ConnectionsResult } from './scenarios/connections.js';
export type { CostContender, CostProfile, CostResult, CostRound } from './scenarios/cost.js';
export type { EfficiencyResult } from './scenarios/efficiency.js';
export type { GroupScalingResult } from './scenarios/group-scaling.js';
export type { LatencyPoint } from './scenarios/latency.js';
export type { PresenceBenchResult, PresenceQueryCost } from './scenarios/presence.js';
export type { RecoveryResult } from './scenarios/recovery.js';
export type { ProfileShare, ProfileSummary } from './util/cpu-profile.js';
export { componentOf, summarizeCpuProfile } from './util/cpu-profile.js';
export type { WriteOptions } from './write-results.js';
export { writeResults } from './write-results.js';
