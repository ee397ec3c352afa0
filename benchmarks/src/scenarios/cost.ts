import { type BrokerDriver, type Brokers, brokerUrl, type DriverName } from '../brokers.js';
import { uniqueName } from '../drivers.js';
import { type ServerProcess, startBareWsNode, startServe, startSocketIoNode } from '../servers.js';
import { type ProfileSummary, summarizeCpuProfile } from '../util/cpu-profile.js';
import { cpuTimeMs, totalCpuTimeMs } from '../util/cpu-time.js';
import type { Progress } from '../util/progress.js';
import { RemoteProfiler } from '../util/remote-profiler.js';
import { median } from '../util/stats.js';
import { type ClientKind, LightClients } from './cost-clients.js';

export interface CostOptions {
  /** Backplane drivers to run: `memory` on one node, the others on 3 nodes sharing the broker. */
  drivers: readonly DriverName[];
  /** Receivers per server node; each level is measured on its own. */
  fanOut: readonly number[];
  /**
   * Deliveries aimed at per measured round: the messages sent are this divided by the clients (at least
   * `minMessages`), so every level keeps the servers busy about as long.
   */
  deliveries: number;
  /** Fewest messages per round. */
  minMessages: number;
  rounds: number;
  /**
   * Messages in flight, at most: the sender fires `window / 2` messages, then waits until every client
   * has all but the last `window / 2` of what was sent, and so on.
   */
  window: number;
  /**
   * A round goes on past its messages until the servers have used this much CPU time, in ms, so that the
   * reading (in 10 ms clock ticks) is precise even for the cheapest contender.
   */
  minCpuMs: number;
  /**
   * After the measured contenders, one more pass with the first node of the first broker driver (memory
   * when there is none) profiled through its inspector: `receiversPerNode` receivers per node, `messages` sent.
   * Its figures are not compared (the profiler slows the node down); it says where the time goes.
   */
  profile?: { readonly receiversPerNode: number; readonly messages: number };
}

/** Where the first node's CPU went in the profiling pass (see {@link CostOptions.profile}). */
export interface CostProfile {
  readonly contender: CostContender;
  readonly nodes: number;
  readonly receiversPerNode: number;
  /** Messages sent while profiled (after a warm-up). */
  readonly messages: number;
  /** Records written to the profiled node's clients (its receivers and the sender): messages × (R + 1). */
  readonly deliveries: number;
  /**
   * The profiled node's CPU time (from `/proc`) per record written to its clients while profiled, µs: the
   * profiler's own cost included, so above the measured figures.
   */
  readonly microsPerDelivery: number;
  readonly summary?: ProfileSummary;
  readonly error?: string;
}

/**
 * `backplane-<driver>`: `backplane serve` (×3 on a broker, ×1 on memory). `socket.io-redis`: socket.io with
 * `@socket.io/redis-adapter` ×3. `socket.io-memory`: one socket.io node, its default in-memory adapter.
 * `ws-floor`: a bare `ws` server forwarding each message to every socket, one frame per message;
 * `ws-floor-batched`: the same, a turn's messages joined into one frame per socket.
 */
export type CostContender =
  | `backplane-${DriverName}`
  | 'socket.io-redis'
  | 'socket.io-memory'
  | 'ws-floor'
  | 'ws-floor-batched';

export interface CostRound {
  /** Messages sent: at least the round's `messages`, more when the servers had not yet used `minCpuMs`. */
  readonly messages: number;
  /** Records the clients received (the sender's own copies included). */
  readonly deliveries: number;
  /** Messages × clients. */
  readonly expected: number;
  /** WebSocket frames that carried them. */
  readonly frames: number;
  /** CPU time (user + system) of the server processes, ms. */
  readonly serverCpuMs: number;
  /** CPU time of the broker process, ms (0 without a broker, NaN when its pid is unknown). */
  readonly brokerCpuMs: number;
  readonly wallMs: number;
}

export interface CostResult {
  readonly contender: CostContender;
  readonly nodes: number;
  readonly receiversPerNode: number;
  /** Every socket (receivers and the sender); each message is delivered to all of them. */
  readonly clients: number;
  /** Messages per round (at least; see {@link CostRound.messages}). */
  readonly messages: number;
  /** The broker whose CPU is counted, if any. */
  readonly broker?: BrokerDriver;
  /** Server CPU per delivery in µs, median over the rounds. */
  readonly serverMicros: number;
  /** Server + broker CPU per delivery in µs, median over the rounds. */
  readonly totalMicros: number;
  readonly deliveriesPerSecond: number;
  /** Records per WebSocket frame received (the write batch factor). */
  readonly recordsPerFrame: number;
  readonly rounds: CostRound[];
  /** Some round timed out before every delivery arrived: its figures count what did arrive. */
  readonly partial?: boolean;
  readonly error?: string;
}

/** A 100-byte message, as in scenario 2. */
const MESSAGE = 'm'.repeat(100);
/** How long the sender waits for the clients to catch up before reporting a partial round. */
const CATCH_UP_TIMEOUT_MS = 60_000;
/** A round is extended for `minCpuMs` only while it is shorter than this, in ms. */
const MAX_EXTENDED_ROUND_MS = 20_000;

interface Rig {
  readonly servers: readonly ServerProcess[];
  readonly clients: LightClients;
  readonly send: () => void;
  /** Opens receivers until each server has `perNode` of them (levels only grow). */
  addReceivers(perNode: number): Promise<void>;
  readonly broker?: BrokerDriver;
  readonly brokerPid?: number;
  close(): Promise<void>;
}

/** Which contenders a run of `drivers` measures, multi-node first. */
export function costContenders(drivers: readonly DriverName[]): CostContender[] {
  return [
    ...drivers.filter((d) => d !== 'memory').map((d) => `backplane-${d}` as const),
    'socket.io-redis',
    ...(drivers.includes('memory') ? (['backplane-memory'] as const) : []),
    'socket.io-memory',
    'ws-floor-batched',
    'ws-floor',
  ];
}

export function nodesOf(contender: CostContender): number {
  return contender === 'socket.io-redis' ||
    (contender.startsWith('backplane-') && contender !== 'backplane-memory')
    ? 3
    : 1;
}

/**
 * Server cost per delivery: N server nodes, R light receivers per node (raw WebSockets that count records
 * and parse nothing) and one sender on the first node broadcasting 100-byte messages. CPU time of every
 * server process and of the broker, read from `/proc` before and after each round, divided by the records
 * the clients received. One step per contender: its servers start once, and each fan-out level adds
 * receivers up to R per node, warms up, then measures its rounds.
 */
export async function runCost(
  brokers: Brokers,
  options: CostOptions,
  progress: Progress,
): Promise<CostResult[]> {
  const results: CostResult[] = [];
  for (const contender of costContenders(options.drivers)) {
    progress.step(`server cost per delivery: ${contender} ×${nodesOf(contender)}`);
    for (const result of await measureContender(contender, brokers, options, progress)) {
      results.push(result);
      progress.note(
        `${contender} ×${result.nodes}, ${result.receiversPerNode}/node: ${f2(result.serverMicros)} µs server, ` +
          `${f2(result.totalMicros)} µs with broker per delivery; ` +
          `${Math.round(result.deliveriesPerSecond).toLocaleString('en-US')} deliveries/s; ` +
          `${f2(result.recordsPerFrame)} records/frame${result.partial ? ' PARTIAL' : ''}` +
          `${result.error ? ` ERROR ${result.error.split('\n')[0]}` : ''}`,
      );
    }
  }
  return results;
}

/** Every fan-out level of one contender, on one set of servers. */
async function measureContender(
  contender: CostContender,
  brokers: Brokers,
  options: CostOptions,
  progress: Progress,
): Promise<CostResult[]> {
  const nodes = nodesOf(contender);
  const results: CostResult[] = [];
  let rig: Rig | undefined;
  let startError: unknown;
  try {
    rig = await startRig(contender, brokers);
  } catch (error) {
    startError = error;
  }
  try {
    for (const receiversPerNode of options.fanOut) {
      const clients = nodes * receiversPerNode + 1;
      const messages = Math.max(options.minMessages, Math.ceil(options.deliveries / clients));
      const base = { contender, nodes, receiversPerNode, clients, messages };
      if (!rig) {
        results.push({ ...summarize(base, undefined, [], false), error: String(startError) });
        continue;
      }
      progress.detail(`server cost: ${contender}, ${receiversPerNode} receivers per node`);
      const rounds: CostRound[] = [];
      let partial = false;
      try {
        await rig.addReceivers(receiversPerNode);
        // Warm-up (JIT, buffers, broker connections), not measured.
        const warm = await burst(rig, Math.max(options.window, Math.ceil(messages / 4)), options.window, 0);
        if (warm.deliveries < warm.expected)
          throw new Error(`warm-up: ${warm.deliveries} of ${warm.expected} deliveries arrived`);
        for (let i = 0; i < options.rounds; i++) {
          const round = await burst(rig, messages, options.window, options.minCpuMs);
          rounds.push(round);
          if (round.deliveries < round.expected) {
            partial = true;
            break;
          }
        }
        results.push(summarize(base, rig.broker, rounds, partial));
      } catch (error) {
        results.push({ ...summarize(base, rig.broker, rounds, partial), error: String(error) });
      }
    }
  } finally {
    await rig?.close();
  }
  return results;
}

/**
 * The profiling pass: the first node of `backplane-<first broker driver>` (or memory) runs with its
 * inspector open; after a warm-up, a {@link RemoteProfiler} samples it while `messages` are sent, so the
 * profile holds the steady state only (no start-up, connecting or warm-up). Summarized by component and
 * by function.
 */
export async function profileCost(
  brokers: Brokers,
  options: CostOptions & { profile: NonNullable<CostOptions['profile']> },
  progress: Progress,
): Promise<CostProfile> {
  const broker = options.drivers.find((d) => d !== 'memory');
  const contender: CostContender = `backplane-${broker ?? 'memory'}`;
  const nodes = nodesOf(contender);
  const { receiversPerNode, messages } = options.profile;
  progress.step(`server cost: profiling ${contender} ×${nodes}, ${receiversPerNode}/node`);
  let sent = 0;
  const result = (extra: Partial<CostProfile>): CostProfile => ({
    contender,
    nodes,
    receiversPerNode,
    messages: sent,
    deliveries: sent * (receiversPerNode + 1),
    microsPerDelivery: Number.NaN,
    ...extra,
  });
  let rig: Rig | undefined;
  let profiler: RemoteProfiler | undefined;
  try {
    rig = await startRig(contender, brokers, ['--inspect=127.0.0.1:0']);
    const first = rig.servers[0]!.process;
    profiler = await RemoteProfiler.attach(() => first.output);
    await rig.addReceivers(receiversPerNode);
    await burst(rig, Math.max(options.window, Math.ceil(messages / 4)), options.window, 0);
    await profiler.start();
    const cpuBefore = cpuTimeMs(first.pid!);
    const round = await burst(rig, messages, options.window, 0);
    const cpuMs = cpuTimeMs(first.pid!) - cpuBefore;
    const summary = summarizeCpuProfile(await profiler.stop());
    sent = round.messages;
    if (round.deliveries < round.expected)
      throw new Error(`${round.deliveries} of ${round.expected} deliveries arrived`);
    return result({ summary, microsPerDelivery: (cpuMs * 1000) / (sent * (receiversPerNode + 1)) });
  } catch (error) {
    return result({ error: String(error) });
  } finally {
    profiler?.close();
    await rig?.close();
  }
}

function summarize(
  base: Pick<CostResult, 'contender' | 'nodes' | 'receiversPerNode' | 'clients' | 'messages'>,
  broker: BrokerDriver | undefined,
  rounds: CostRound[],
  partial: boolean,
): CostResult {
  const of = (f: (r: CostRound) => number) => median(rounds.map(f));
  return {
    ...base,
    ...(broker && { broker }),
    serverMicros: of((r) => (r.serverCpuMs * 1000) / r.deliveries),
    totalMicros: of((r) => ((r.serverCpuMs + r.brokerCpuMs) * 1000) / r.deliveries),
    deliveriesPerSecond: of((r) => (r.deliveries * 1000) / r.wallMs),
    recordsPerFrame: of((r) => r.deliveries / r.frames),
    rounds,
    ...(partial && { partial }),
  };
}

/**
 * Sends `messages` broadcasts (and more, `window / 2` at a time, while the servers have used less than
 * `minCpuMs` and the round is shorter than {@link MAX_EXTENDED_ROUND_MS}), at most `window` ahead of the
 * clients, and waits until every client has all of them, or a catch-up times out: the round then counts
 * what arrived. Waits on the clients' count, never on a timer.
 */
async function burst(rig: Rig, messages: number, window: number, minCpuMs: number): Promise<CostRound> {
  const { records } = rig.clients;
  const clients = rig.clients.size;
  const chunk = Math.max(1, Math.floor(window / 2));
  const startRecords = records.value;
  const startFrames = rig.clients.frames;
  const pids = rig.servers.map((s) => s.process.pid!);
  const serverBefore = totalCpuTimeMs(pids);
  const brokerCpu = () =>
    rig.broker === undefined ? 0 : rig.brokerPid === undefined ? Number.NaN : cpuTimeMs(rig.brokerPid);
  const brokerBefore = brokerCpu();
  const started = performance.now();
  const more = () =>
    totalCpuTimeMs(pids) - serverBefore < minCpuMs && performance.now() - started < MAX_EXTENDED_ROUND_MS;
  let sent = 0;
  try {
    for (;;) {
      const n = sent < messages ? Math.min(chunk, messages - sent) : chunk;
      for (let i = 0; i < n; i++) rig.send();
      sent += n;
      if (sent >= messages && !more()) break;
      if (sent > chunk)
        await records.until(startRecords + (sent - chunk) * clients, CATCH_UP_TIMEOUT_MS, 'the clients');
    }
    await records.until(startRecords + sent * clients, CATCH_UP_TIMEOUT_MS, 'every delivery');
  } catch {
    // partial: reported with what arrived
  }
  const wallMs = performance.now() - started;
  const serverCpuMs = totalCpuTimeMs(pids) - serverBefore;
  const brokerCpuMs = brokerCpu() - brokerBefore;
  return {
    messages: sent,
    deliveries: records.value - startRecords,
    expected: sent * clients,
    frames: rig.clients.frames - startFrames,
    serverCpuMs,
    brokerCpuMs,
    wallMs,
  };
}

/** Starts the contender's servers with the sender on the first one; receivers come with `addReceivers`. */
async function startRig(
  contender: CostContender,
  brokers: Brokers,
  firstNodeFlags: readonly string[] = [],
): Promise<Rig> {
  const servers: ServerProcess[] = [];
  const kind: ClientKind = contender.startsWith('socket.io') ? 'socket.io' : 'signalr';
  const clients = new LightClients(kind);
  const close = async () => {
    clients.close();
    await Promise.allSettled(servers.map((s) => s.stop()));
  };
  let broker: BrokerDriver | undefined;
  try {
    if (contender === 'socket.io-redis') {
      broker = 'redis';
      servers.push(...(await startAll(3, () => startSocketIoNode(brokers.redis!.url))));
    } else if (contender === 'socket.io-memory') {
      servers.push(await startSocketIoNode('none'));
    } else if (contender === 'ws-floor' || contender === 'ws-floor-batched') {
      servers.push(await startBareWsNode(contender === 'ws-floor' ? 'forward' : 'batched'));
    } else if (contender === 'backplane-memory') {
      servers.push(
        await startServe('memory', undefined, `${uniqueName('bench-cost-')}:`, [], firstNodeFlags),
      );
    } else {
      broker = contender.slice('backplane-'.length) as BrokerDriver;
      const prefix = `${uniqueName('bench-cost-')}:`;
      const url = brokerUrl(brokers, broker);
      servers.push(await startServe(broker, url, prefix, [], firstNodeFlags));
      servers.push(...(await startAll(2, () => startServe(broker!, url, prefix))));
    }
    const send = await clients.sender(servers[0]!.url, MESSAGE);
    const brokerPid = broker && brokers.pids[broker];
    let perNode = 0;
    const addReceivers = async (target: number) => {
      for (const server of servers) await clients.open(server.url, target - perNode);
      perNode = target;
    };
    return {
      servers,
      clients,
      send,
      addReceivers,
      ...(broker && { broker }),
      ...(brokerPid && { brokerPid }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Starts `count` servers at once; if one fails, stops those that started and rethrows. */
async function startAll(count: number, start: () => Promise<ServerProcess>): Promise<ServerProcess[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, start));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (!failed) return servers;
  await Promise.allSettled(servers.map((s) => s.stop()));
  throw failed.reason;
}

const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');
