import { type Brokers, DRIVERS, type DriverName, startBrokers } from './brokers.js';
import { resetRawMemoryBus } from './drivers.js';
import { brokerDrivers, type Mode, PRESETS, SCENARIOS, type ScenarioName, type Sizes } from './presets.js';
import { describeEnvironment, type Environment } from './report/versions.js';
import { type BroadcastResult, runBroadcast } from './scenarios/broadcast.js';
import { type ConnectionsResult, runConnections } from './scenarios/connections.js';
import { type CostProfile, type CostResult, costContenders, profileCost, runCost } from './scenarios/cost.js';
import { type EfficiencyResult, runEfficiency } from './scenarios/efficiency.js';
import { type GroupScalingResult, runGroupScaling } from './scenarios/group-scaling.js';
import { type LatencyPoint, runLatency } from './scenarios/latency.js';
import { type PresenceBenchResult, runPresence } from './scenarios/presence.js';
import { type RecoveryResult, runRecovery } from './scenarios/recovery.js';
import { Progress } from './util/progress.js';

export interface BenchOptions {
  /** @default 'full' */
  mode?: Mode;
  /** @default every driver */
  drivers?: readonly DriverName[];
  /** @default every scenario */
  scenarios?: readonly ScenarioName[];
  /** No progress output (tests). @default false */
  silent?: boolean;
}

/** Everything one run measured; written as JSON and rendered to docs/benchmarks.md. */
export interface BenchResults {
  readonly mode: Mode;
  readonly command: string;
  readonly environment: Environment;
  readonly sizes: Sizes;
  readonly durationSeconds: number;
  readonly efficiency?: EfficiencyResult[];
  readonly broadcast?: BroadcastResult[];
  readonly latency?: LatencyPoint[];
  readonly groups?: GroupScalingResult[];
  readonly connections?: ConnectionsResult;
  readonly recovery?: RecoveryResult[];
  readonly cost?: CostResult[];
  /** Where the time of one node goes in the cost scenario (`node --cpu-prof`). */
  readonly costProfile?: CostProfile;
  readonly presence?: PresenceBenchResult[];
}

/** Runs the suite: starts the brokers it needs, runs the scenarios in order, stops everything. */
export async function runBenchmarks(options: BenchOptions = {}): Promise<BenchResults> {
  const mode = options.mode ?? 'full';
  const drivers = options.drivers ?? DRIVERS;
  const scenarios = options.scenarios ?? SCENARIOS;
  const sizes = PRESETS[mode];
  const steps =
    (scenarios.includes('efficiency') ? drivers.length : 0) +
    (scenarios.includes('broadcast') ? 1 : 0) +
    (scenarios.includes('latency') ? drivers.length : 0) +
    (scenarios.includes('groups') ? 1 : 0) +
    (scenarios.includes('connections') ? 1 : 0) +
    (scenarios.includes('recovery') ? brokerDrivers(drivers).length : 0) +
    (scenarios.includes('cost') ? costContenders(drivers).length + (sizes.cost.profile ? 1 : 0) : 0) +
    (scenarios.includes('presence') ? drivers.length : 0) +
    1;
  const progress = new Progress(steps, { silent: options.silent ?? false });
  const started = Date.now();
  progress.step(
    `starting brokers: ${['redis', ...brokerDrivers(drivers).filter((d) => d !== 'redis')].join(', ')}`,
  );
  const brokers: Brokers = await startBrokers(drivers);
  resetRawMemoryBus();
  const results: { -readonly [K in keyof BenchResults]: BenchResults[K] } = {
    mode,
    command: commandLine(mode, options),
    environment: describeEnvironment(brokers.versions),
    sizes,
    durationSeconds: 0,
  };
  try {
    if (scenarios.includes('efficiency'))
      results.efficiency = await runEfficiency(brokers, { ...sizes.efficiency, drivers }, progress);
    if (scenarios.includes('broadcast'))
      results.broadcast = await runBroadcast(
        brokers,
        { ...sizes.broadcast, drivers: brokerDrivers(drivers) },
        progress,
      );
    if (scenarios.includes('latency'))
      results.latency = await runLatency(brokers, { ...sizes.latency, drivers }, progress);
    if (scenarios.includes('groups'))
      results.groups = await runGroupScaling(brokers, { ...sizes.groups, drivers }, progress);
    if (scenarios.includes('connections'))
      results.connections = await runConnections(sizes.connections, progress);
    if (scenarios.includes('recovery'))
      results.recovery = await runRecovery(
        brokers,
        { ...sizes.recovery, drivers: brokerDrivers(drivers) },
        progress,
      );
    if (scenarios.includes('cost')) {
      results.cost = await runCost(brokers, { ...sizes.cost, drivers }, progress);
      const { profile } = sizes.cost;
      if (profile)
        results.costProfile = await profileCost(brokers, { ...sizes.cost, drivers, profile }, progress);
    }
    if (scenarios.includes('presence'))
      results.presence = await runPresence(brokers, { ...sizes.presence, drivers }, progress);
  } finally {
    await brokers.stop();
  }
  results.durationSeconds = Math.round((Date.now() - started) / 1000);
  progress.done();
  return results;
}

function commandLine(mode: Mode, options: BenchOptions): string {
  const args = ['npm run bench --'];
  if (mode !== 'full') args.push(`--${mode}`);
  if (options.drivers) args.push(`--drivers ${options.drivers.join(',')}`);
  if (options.scenarios) args.push(`--only ${options.scenarios.join(',')}`);
  return args.join(' ').replace(/ --$/, '');
}
