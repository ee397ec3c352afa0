import { performance } from 'node:perf_hooks';
import type { HubLifetimeManager, LocalConnection, PresenceResult } from '@backplane/core';
import { JsonHubProtocol } from '@backplane/hub-protocol';
import type { Brokers, DriverName } from '../brokers.js';
import { startCluster, stopCluster } from '../cluster.js';
import { cpuTimeMs } from '../util/cpu-time.js';
import type { Progress } from '../util/progress.js';
import { type LatencySummary, summarizeLatency } from '../util/stats.js';
import { pollUntil, pump } from '../util/wait.js';

export interface PresenceOptions {
  drivers: readonly DriverName[];
  servers: number;
  /** Fake local connections per server (each with a user, each in one group). */
  connectionsPerServer: number;
  /** Groups the connections are spread over. */
  groups: number;
  /** Queries of each kind, one at a time (latency and CPU per query). */
  queries: number;
  /** Queries in flight for the throughput figure. */
  concurrency: number;
  /** Group joins and leaves (each one change) on the first server. */
  changes: number;
}

export interface PresenceQueryCost {
  readonly query: string;
  /** One query at a time, from the first server, in ms. */
  readonly latency: LatencySummary;
  /** CPU of this process (the servers, their driver clients and the asker) per query, in µs. */
  readonly cpuMicros: number;
  /** The broker's CPU per query, in µs (absent for memory). */
  readonly brokerCpuMicros?: number;
  /** Envelopes all servers published per query (the query and each server's answer). */
  readonly published: number;
  /** Envelopes all servers received per query. */
  readonly received: number;
  /** Queries per second with `concurrency` in flight. */
  readonly queriesPerSecond: number;
  /** Answers that came back partial (a server missed the deadline) or wrong. */
  readonly partial: number;
}

export interface PresenceBenchResult {
  readonly driver: DriverName;
  readonly servers: number;
  readonly connections: number;
  /** Time to register every connection (user channels subscribed) and join each to its group, in s. */
  readonly setupSeconds: number;
  readonly queries: readonly PresenceQueryCost[];
  /** A local group join or leave of a group with other local members (no broker subscription changes). */
  readonly change: {
    readonly cpuMicros: number;
    readonly brokerCpuMicros?: number;
    /** Envelopes published per change, all servers (0: a change costs the backplane nothing). */
    readonly published: number;
  };
  readonly error?: string;
}

const json = new JsonHubProtocol();

/** A connection that receives nothing in this scenario: presence reads membership, never writes. */
class SilentConnection implements LocalConnection {
  readonly protocol = json;
  constructor(
    readonly connectionId: string,
    readonly userIdentifier: string,
  ) {}
  write(): void {}
}

/**
 * Presence at scale: `servers` servers × `connectionsPerServer` connections (in-process managers with fake
 * connections). Each user has a connection on two servers (s and s + servers/2); each connection is in
 * one of `groups` groups. Measured: latency, CPU and broker messages per query of each kind from the
 * first server, queries per second with several in flight, and CPU and broker messages per membership
 * change (a join or leave of a group with other local members).
 */
export async function runPresence(
  brokers: Brokers,
  options: PresenceOptions,
  progress: Progress,
): Promise<PresenceBenchResult[]> {
  const results: PresenceBenchResult[] = [];
  for (const driver of options.drivers) {
    progress.step(
      `presence: ${driver}, ${options.servers} servers × ${options.connectionsPerServer.toLocaleString('en-US')} connections`,
    );
    let managers: HubLifetimeManager[] = [];
    try {
      managers = await startCluster(driver, brokers, options.servers);
      const brokerPid = driver === 'memory' ? undefined : brokers.pids[driver];
      results.push(await measure(driver, managers, brokerPid, options, progress));
    } catch (error) {
      results.push({
        driver,
        servers: options.servers,
        connections: options.servers * options.connectionsPerServer,
        setupSeconds: Number.NaN,
        queries: [],
        change: { cpuMicros: Number.NaN, published: Number.NaN },
        error: String(error),
      });
    } finally {
      await stopCluster(managers);
    }
    const r = results.at(-1)!;
    for (const q of r.queries)
      progress.note(
        `${driver} ${q.query}: p50 ${q.latency.p50.toFixed(2)} ms, p99 ${q.latency.p99.toFixed(2)} ms, ` +
          `${q.cpuMicros.toFixed(0)} µs CPU, ${q.published.toFixed(1)} published / ${q.received.toFixed(1)} received, ` +
          `${q.queriesPerSecond.toFixed(0)}/s, ${q.partial} partial`,
      );
    progress.note(
      `${driver} membership change: ${r.change.cpuMicros.toFixed(2)} µs CPU, ${r.change.published.toFixed(3)} published${r.error ? ` ERROR ${r.error}` : ''}`,
    );
  }
  return results;
}

async function measure(
  driver: DriverName,
  managers: HubLifetimeManager[],
  brokerPid: number | undefined,
  options: PresenceOptions,
  progress: Progress,
): Promise<PresenceBenchResult> {
  const { servers, connectionsPerServer: perServer, groups } = options;
  // The user of connection j on server s is also on every server s' with s' ≡ s (mod half): 2 per user at 8.
  const half = Math.max(1, Math.floor(servers / 2));
  const userOf = (s: number, j: number) => `u${(s % half) * perServer + j}`;
  let perUser = 0;
  for (let s = 0; s < servers; s++) if (s % half === 0) perUser++;
  const connections: SilentConnection[][] = managers.map(() => []);
  const setupStarted = performance.now();
  await Promise.all(
    managers.map(async (manager, s) => {
      for (let i = 0; i < perServer; i += 500) {
        const batch: Promise<void>[] = [];
        for (let j = i; j < Math.min(perServer, i + 500); j++) {
          const connection = new SilentConnection(manager.createConnectionId(), userOf(s, j));
          connections[s]!.push(connection);
          batch.push(
            manager
              .onConnected(connection)
              .then(() => manager.addToGroup(connection.connectionId, `room-${j % groups}`)),
          );
        }
        await Promise.all(batch);
      }
    }),
  );
  const setupSeconds = (performance.now() - setupStarted) / 1000;
  progress.detail(`presence: ${driver} set up in ${setupSeconds.toFixed(1)} s`);
  const asker = managers[0]!.presence;
  const total = servers * perServer;
  // Where servers announce themselves, the asker first hears every one of them (about 1.5 intervals).
  await pollUntil(
    async () => {
      const r = await asker.connectionCount();
      return !r.partial && r.value === total;
    },
    30_000,
    `${driver}: every server answering`,
    200,
  );
  const remote = connections[servers - 1]![0]!.connectionId;
  const kinds: Array<{
    query: string;
    run: () => Promise<PresenceResult<unknown>>;
    right: (v: unknown) => boolean;
  }> = [
    { query: 'connectionCount', run: () => asker.connectionCount(), right: (v) => v === total },
    {
      query: 'groupCount',
      run: () => asker.groupCount('room-0'),
      right: (v) => v === servers * Math.ceil(perServer / groups),
    },
    {
      query: 'userConnections',
      run: () => asker.userConnections('u1'),
      right: (v) => Array.isArray(v) && v.length === perUser,
    },
    { query: 'isUserOnline (offline)', run: () => asker.isUserOnline('nobody'), right: (v) => v === false },
    {
      query: 'connectionGroups (remote)',
      run: () => asker.connectionGroups(remote),
      right: (v) => Array.isArray(v) && v.length === 1,
    },
  ];
  const published = () => managers.reduce((sum, m) => sum + m.stats.published, 0);
  const received = () => managers.reduce((sum, m) => sum + m.stats.received, 0);
  const brokerCpu = () => (brokerPid === undefined ? Number.NaN : cpuTimeMs(brokerPid));
  const queries: PresenceQueryCost[] = [];
  for (const kind of kinds) {
    for (let i = 0; i < 20; i++) await kind.run(); // warm-up
    let partial = 0;
    const samples: number[] = [];
    const [p0, r0, b0, cpu0] = [published(), received(), brokerCpu(), process.cpuUsage()];
    for (let i = 0; i < options.queries; i++) {
      const started = performance.now();
      const result = await kind.run();
      samples.push(performance.now() - started);
      if (result.partial || !kind.right(result.value)) partial++;
    }
    const cpu = process.cpuUsage(cpu0);
    const [p1, r1, b1] = [published(), received(), brokerCpu()];
    const started = performance.now();
    await pump(options.queries, options.concurrency, async () => {
      const result = await kind.run();
      if (result.partial || !kind.right(result.value)) partial++;
    });
    const seconds = (performance.now() - started) / 1000;
    const brokerMicros = ((b1 - b0) * 1000) / options.queries;
    queries.push({
      query: kind.query,
      latency: summarizeLatency(samples),
      cpuMicros: (cpu.user + cpu.system) / options.queries,
      ...(Number.isFinite(brokerMicros) && { brokerCpuMicros: brokerMicros }),
      published: (p1 - p0) / options.queries,
      received: (r1 - r0) / options.queries,
      queriesPerSecond: options.queries / seconds,
      partial,
    });
  }
  // Membership changes: a connection of the first server joins, then leaves, a group that has other local
  // members (so no broker subscription changes either way).
  const first = managers[0]!;
  const own = connections[0]!;
  const [p0, b0, cpu0] = [published(), brokerCpu(), process.cpuUsage()];
  for (let i = 0; i < options.changes / 2; i++) {
    const connection = own[i % own.length]!;
    const group = `room-${(i + 1) % groups}`;
    await first.addToGroup(connection.connectionId, group);
    await first.removeFromGroup(connection.connectionId, group);
  }
  const cpu = process.cpuUsage(cpu0);
  const brokerMicros = ((brokerCpu() - b0) * 1000) / options.changes;
  return {
    driver,
    servers,
    connections: total,
    setupSeconds,
    queries,
    change: {
      cpuMicros: (cpu.user + cpu.system) / options.changes,
      ...(Number.isFinite(brokerMicros) && { brokerCpuMicros: brokerMicros }),
      published: (published() - p0) / options.changes,
    },
  };
}
