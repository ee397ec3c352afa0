import type { BrokerDriver, DriverName } from './brokers.js';
import type { BroadcastOptions } from './scenarios/broadcast.js';
import type { ConnectionsOptions } from './scenarios/connections.js';
import type { CostOptions } from './scenarios/cost.js';
import type { EfficiencyOptions } from './scenarios/efficiency.js';
import type { GroupScalingOptions } from './scenarios/group-scaling.js';
import type { LatencyOptions } from './scenarios/latency.js';
import type { PresenceOptions } from './scenarios/presence.js';
import type { RecoveryOptions } from './scenarios/recovery.js';

export const SCENARIOS = [
  'efficiency',
  'broadcast',
  'latency',
  'groups',
  'connections',
  'recovery',
  'cost',
  'presence',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
export type Mode = 'full' | 'quick' | 'smoke';

/** Every size of a run; `drivers` filled in per scenario from the run's `--drivers`. */
export interface Sizes {
  efficiency: Omit<EfficiencyOptions, 'drivers'>;
  broadcast: Omit<BroadcastOptions, 'drivers'>;
  latency: Omit<LatencyOptions, 'drivers'>;
  groups: Omit<GroupScalingOptions, 'drivers'>;
  connections: ConnectionsOptions;
  recovery: Omit<RecoveryOptions, 'drivers'>;
  cost: Omit<CostOptions, 'drivers'>;
  presence: Omit<PresenceOptions, 'drivers'>;
}

/**
 * `full` is the published run (about 12 minutes here before scenario 7), `quick` keeps every scenario and
 * shape with fewer messages and rounds (under 10 minutes before scenario 7, which takes about 2½ minutes on
 * memory and Redis, about 45 s of it per broker driver; scenario 8 keeps its 8 × 10 000 connections and
 * takes about 1¼ minutes on all four drivers), `smoke` only proves the suite works (the `npm test` check).
 */
export const PRESETS: Record<Mode, Sizes> = {
  full: {
    efficiency: { messages: 100_000, rounds: 5, window: 1_000 },
    broadcast: { receivers: 30, senders: 3, messages: 10_000, rounds: 5, window: 300 },
    latency: { rates: [1_000, 5_000, 10_000], durationMs: 5_000, rounds: 3 },
    groups: { servers: 8, members: 10, messages: 20_000 },
    connections: { connections: 20_000, clientProcesses: 2 },
    recovery: { gap: 10_000, rounds: 5 },
    cost: {
      fanOut: [1, 10, 100, 1_000],
      deliveries: 150_000,
      minMessages: 100,
      rounds: 3,
      window: 100,
      minCpuMs: 1_500,
      profile: { receiversPerNode: 100, messages: 3_000 },
    },
    presence: {
      servers: 8,
      connectionsPerServer: 10_000,
      groups: 100,
      queries: 1_000,
      concurrency: 32,
      changes: 20_000,
    },
  },
  quick: {
    efficiency: { messages: 20_000, rounds: 3, window: 1_000 },
    broadcast: { receivers: 30, senders: 3, messages: 3_000, rounds: 3, window: 300 },
    latency: { rates: [1_000, 5_000, 10_000], durationMs: 2_000, rounds: 2 },
    groups: { servers: 8, members: 10, messages: 5_000 },
    connections: { connections: 20_000, clientProcesses: 2 },
    recovery: { gap: 10_000, rounds: 2 },
    cost: {
      fanOut: [1, 10, 100, 1_000],
      deliveries: 40_000,
      minMessages: 50,
      rounds: 2,
      window: 100,
      minCpuMs: 500,
      profile: { receiversPerNode: 100, messages: 1_000 },
    },
    presence: {
      servers: 8,
      connectionsPerServer: 10_000,
      groups: 100,
      queries: 300,
      concurrency: 32,
      changes: 10_000,
    },
  },
  smoke: {
    efficiency: { messages: 200, rounds: 1, window: 100 },
    broadcast: { receivers: 3, senders: 1, messages: 30, rounds: 1, window: 10 },
    latency: { rates: [500], durationMs: 200, rounds: 1 },
    groups: { servers: 3, members: 2, messages: 50 },
    connections: { connections: 40, clientProcesses: 1 },
    recovery: { gap: 50, rounds: 1 },
    cost: {
      fanOut: [1, 10],
      deliveries: 200,
      minMessages: 10,
      rounds: 1,
      window: 10,
      minCpuMs: 0,
      // Enough samples (about 400 at 250 µs) that a component with a few % of the time shows up.
      profile: { receiversPerNode: 10, messages: 1_000 },
    },
    presence: { servers: 3, connectionsPerServer: 50, groups: 5, queries: 10, concurrency: 4, changes: 50 },
  },
};

/** Drivers that run in processes of their own (`backplane serve` needs a broker the processes share). */
export function brokerDrivers(drivers: readonly DriverName[]): BrokerDriver[] {
  return drivers.filter((d): d is BrokerDriver => d !== 'memory');
}
