import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../wait-for.js';
import { freePort, freePortPair } from './free-port.js';
import { requireBinary } from './managed-process.js';
import { type ServerProcessHandle, startServerProcess, tcpProbe } from './server-process.js';
import { TopologyError } from './topology-error.js';

const INSTALL_HINT = 'apt-get install redis-server redis-tools (Debian/Ubuntu) or brew install redis (macOS)';
const run = promisify(execFile);

/** A real redis-server on a random port, for tests; fault helpers keep the port across restarts. */
export interface RedisServerHandle extends ServerProcessHandle {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:PORT`, with the password when one is required. */
  readonly url: string;
  /** Sends a command with redis-cli and returns its output (trimmed). */
  cli(...args: string[]): Promise<string>;
}

/** Options of `startRedis`. */
export interface StartRedisOptions {
  /** @default a random free port */
  port?: number;
  /** Extra redis-server arguments, e.g. ['--cluster-enabled', 'yes']. */
  args?: readonly string[];
  /** Require this password (`--requirepass`); `url` and `cli()` carry it. @default none */
  password?: string;
  /** @default 10_000 ms */
  startTimeoutMs?: number;
}

/** Starts `redis-server` on 127.0.0.1 and a random free port in a fresh temp directory. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServerHandle> {
  requireBinary('redis-server', INSTALL_HINT);
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'backplane-redis-'));
  const args = [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'no',
    ...(options.password === undefined ? [] : ['--requirepass', options.password]),
    ...(options.args ?? []),
  ];
  const server = await startServerProcess({
    command: 'redis-server',
    args,
    name: `redis-server on port ${port}`,
    // Answering at all means ready: +PONG, or -NOAUTH when a password is required.
    ready: () => tcpProbe(port, { send: 'PING\r\n', expect: (reply) => /^(\+PONG|-NOAUTH)/.test(reply) }),
    startTimeoutMs: options.startTimeoutMs ?? 10_000,
    dir,
  });

  const cli = async (...command: string[]) => {
    requireBinary('redis-cli', INSTALL_HINT);
    const auth = options.password === undefined ? [] : ['--no-auth-warning', '-a', options.password];
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...auth, ...command]);
    return stdout.trim();
  };
  const credentials = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  return { ...server, host: '127.0.0.1', port, url: `redis://${credentials}127.0.0.1:${port}`, cli };
}

/** Options of `startRedisCluster`. */
export interface StartRedisClusterOptions {
  /** Master nodes, each serving an equal share of the 16384 slots. @default 3 */
  masters?: number;
  /** Replicas of each master (`redis-cli --cluster create --cluster-replicas`). @default 0 */
  replicasPerMaster?: number;
  /** Time for the cluster to come up with every replica linked, in ms. @default 30_000 */
  startTimeoutMs?: number;
}

/** A real Redis Cluster of `masters` masters with `replicasPerMaster` replicas each, on random ports. */
export interface RedisClusterHandle {
  /** Every node, in start order (roles change on failover: ask {@link RedisClusterHandle.mastersNow}). */
  readonly nodes: readonly RedisServerHandle[];
  /** Startup nodes for ioredis. */
  readonly startupNodes: ReadonlyArray<{ host: string; port: number }>;
  /** The masters that serve slots and are not flagged failed, as the first answering node sees them. */
  mastersNow(): Promise<RedisServerHandle[]>;
  /** The nodes replicating the master on `masterPort`, as the first answering node sees them. */
  replicaOf(masterPort: number): Promise<RedisServerHandle[]>;
  /**
   * Resolves with the promoted node once a former replica of the (killed) master on `deadMasterPort`
   * reports `role:master`, serves slots, and every answering node reports `cluster_state:ok`.
   * @param timeoutMs give up after this long, in ms. @default 30_000
   */
  waitForPromotion(deadMasterPort: number, timeoutMs?: number): Promise<RedisServerHandle>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** One line of `CLUSTER NODES`. */
interface ClusterNodeLine {
  id: string;
  port: number;
  flags: string[];
  /** The master's id for a replica, '-' for a master. */
  masterId: string;
  connected: boolean;
  servesSlots: boolean;
}

function parseClusterNodes(output: string): ClusterNodeLine[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id = '', address = '', flags = '', masterId = '', , , , link = '', ...slots] = line
        .trim()
        .split(' ');
      return {
        id,
        port: Number(/:(\d+)@/.exec(address)?.[1]),
        flags: flags.split(','),
        masterId,
        connected: link === 'connected',
        servesSlots: slots.length > 0,
      };
    });
}

/**
 * Starts `masters * (1 + replicasPerMaster)` cluster-enabled redis-servers and joins them with
 * `redis-cli --cluster create --cluster-replicas`. Ready once every node reports `cluster_state:ok`, sees
 * every master and replica connected, and every replica's link to its master is up. Nodes time out after
 * 2 s (`cluster-node-timeout`) and a replica is always promotable (`cluster-replica-validity-factor 0`).
 */
export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<RedisClusterHandle> {
  requireBinary('redis-cli', INSTALL_HINT);
  const masters = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 0;
  const nodes: RedisServerHandle[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < masters * (1 + replicasPerMaster); i++) {
      const port = await freePortPair(10_000); // the cluster bus listens on port + 10000
      nodes.push(
        await startRedis({
          port,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            '2000',
            '--cluster-replica-validity-factor',
            '0',
          ],
        }),
      );
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      String(replicasPerMaster),
      '--cluster-yes',
    ]);
    await waitFor(
      async () => {
        for (const node of nodes) {
          const info = await node.cli('cluster', 'info');
          if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_assigned:16384'))
            return false;
          const known = parseClusterNodes(await node.cli('cluster', 'nodes'));
          const up = (role: string) => known.filter((n) => n.flags.includes(role) && n.connected).length;
          if (up('master') < masters || up('slave') < masters * replicasPerMaster) return false;
          if (known.some((n) => n.flags.some((f) => f === 'fail' || f === 'fail?'))) return false;
          const replication = await node.cli('info', 'replication');
          if (/role:slave/.test(replication) && !/master_link_status:up/.test(replication)) return false;
        }
        return true;
      },
      {
        timeoutMs: options.startTimeoutMs ?? 30_000,
        name: 'redis cluster state ok and every replica linked',
      },
    );
  } catch (error) {
    await stop();
    throw error;
  }

  /** CLUSTER NODES from the first node that answers (killed nodes are skipped). */
  const clusterNodes = async (): Promise<ClusterNodeLine[]> => {
    for (const node of nodes) {
      const output = await node.cli('cluster', 'nodes').catch(() => undefined);
      if (output !== undefined) return parseClusterNodes(output);
    }
    throw new TopologyError('ERR_TOPOLOGY_NO_ANSWER', 'No cluster node answered CLUSTER NODES');
  };
  const handlesOf = (lines: ClusterNodeLine[]) =>
    lines.map((line) => nodes.find((n) => n.port === line.port)).filter((n) => n !== undefined);
  const replicasOf = (known: ClusterNodeLine[], masterPort: number) => {
    const master = known.find((n) => n.port === masterPort);
    return master ? known.filter((n) => n.masterId === master.id) : [];
  };
  // Who replicated whom, as last seen: a promoted replica no longer names its former master.
  const formerReplicas = new Map<number, Set<number>>();
  const remember = (known: ClusterNodeLine[]) => {
    for (const master of known.filter((n) => n.flags.includes('master'))) {
      const ports = formerReplicas.get(master.port) ?? new Set<number>();
      for (const replica of replicasOf(known, master.port)) ports.add(replica.port);
      formerReplicas.set(master.port, ports);
    }
  };
  remember(await clusterNodes());

  return {
    nodes,
    startupNodes: nodes.map((n) => ({ host: n.host, port: n.port })),
    mastersNow: async () => {
      const known = await clusterNodes();
      remember(known);
      return handlesOf(
        known.filter((n) => n.flags.includes('master') && n.servesSlots && !n.flags.includes('fail')),
      );
    },
    replicaOf: async (masterPort) => {
      const known = await clusterNodes();
      remember(known);
      return handlesOf(replicasOf(known, masterPort));
    },
    waitForPromotion: async (deadMasterPort, timeoutMs = 30_000) => {
      remember(await clusterNodes());
      const candidates = [...(formerReplicas.get(deadMasterPort) ?? [])];
      if (candidates.length === 0)
        throw new TopologyError(
          'ERR_TOPOLOGY_UNKNOWN_NODE',
          `No replica of a master on ${deadMasterPort} known`,
        );
      return waitFor(
        async () => {
          for (const node of nodes) {
            if (node.port === deadMasterPort) continue;
            const info = await node.cli('cluster', 'info').catch(() => undefined);
            if (info !== undefined && !info.includes('cluster_state:ok')) return undefined;
          }
          const known = await clusterNodes();
          const promoted = known.find(
            (n) => candidates.includes(n.port) && n.flags.includes('master') && n.servesSlots,
          );
          const node = promoted && nodes.find((n) => n.port === promoted.port);
          if (!node || !/role:master/.test(await node.cli('info', 'replication'))) return undefined;
          return node;
        },
        {
          timeoutMs,
          intervalMs: 100,
          name: `a replica of port ${deadMasterPort} promoted, cluster_state:ok`,
        },
      );
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
