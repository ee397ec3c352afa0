import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../wait-for.js';
import { freePort } from './free-port.js';
import { requireBinary } from './managed-process.js';
import { type RedisServerHandle, startRedis } from './redis-launcher.js';
import { type ServerProcessHandle, startServerProcess, tcpProbe } from './server-process.js';
import { TopologyError } from './topology-error.js';

const INSTALL_HINT = 'apt-get install redis-server redis-tools (Debian/Ubuntu) or brew install redis (macOS)';
const run = promisify(execFile);

/** One `redis-server --sentinel` process on 127.0.0.1. */
export interface RedisSentinelNodeHandle extends ServerProcessHandle {
  readonly host: string;
  readonly port: number;
  /** Sends a command with redis-cli and returns its output (trimmed), e.g. `cli('sentinel', 'masters')`. */
  cli(...args: string[]): Promise<string>;
}

/** Options of `startRedisSentinel`. */
export interface StartRedisSentinelOptions {
  /** Replicas of the first master (`--replicaof`). @default 1 */
  replicas?: number;
  /** Sentinel processes watching the master. @default 3 */
  sentinels?: number;
  /** The monitored master's name, the last part of `url`. @default 'backplane' */
  masterName?: string;
  /** Sentinels that must agree the master is down before a failover. @default a majority of `sentinels` */
  quorum?: number;
  /** `down-after-milliseconds`: silence before a sentinel thinks the master is down, in ms. @default 1_000 */
  downAfterMs?: number;
  /** `failover-timeout`: how long one failover attempt may take before another is tried, in ms. @default 5_000 */
  failoverTimeoutMs?: number;
  /** Time for the whole topology to come up and agree, in ms. @default 30_000 */
  startTimeoutMs?: number;
}

/** A master, its replicas and the sentinels watching them, all on 127.0.0.1 and random free ports. */
export interface RedisSentinelHandle {
  /** Every data node (the first master, then its replicas), in start order; roles change on failover. */
  readonly servers: readonly RedisServerHandle[];
  readonly sentinels: readonly RedisSentinelNodeHandle[];
  readonly masterName: string;
  /** `redis+sentinel://127.0.0.1:p1,127.0.0.1:p2,.../<masterName>` */
  readonly url: string;
  /** The sentinels as ioredis `sentinels` option entries. */
  readonly sentinelNodes: ReadonlyArray<{ host: string; port: number }>;
  /** The data node the first answering sentinel names as master (`SENTINEL GET-MASTER-ADDR-BY-NAME`). */
  master(): Promise<RedisServerHandle>;
  /**
   * Resolves with the new master once every answering sentinel names the same address other than
   * `oldMasterPort` and that node reports `role:master`.
   * @param timeoutMs give up after this long, in ms. @default 30_000
   */
  waitForFailover(oldMasterPort: number, timeoutMs?: number): Promise<RedisServerHandle>;
  /** Stops the sentinels, then the data nodes (killed ones included), and removes their temp dirs. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

async function cliOn(port: number, ...command: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...command], {
    timeout: 2_000,
  });
  return stdout.trim();
}

/** Starts one sentinel from a generated sentinel.conf (sentinel rewrites it, so it lives in its own dir). */
async function startSentinelNode(conf: (port: number) => string[]): Promise<RedisSentinelNodeHandle> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'backplane-sentinel-'));
  const file = join(dir, 'sentinel.conf');
  writeFileSync(file, `${conf(port).join('\n')}\n`);
  const server = await startServerProcess({
    command: 'redis-server',
    args: [file, '--sentinel'],
    name: `redis sentinel on port ${port}`,
    ready: () => tcpProbe(port, { send: 'PING\r\n', expect: (reply) => reply.startsWith('+PONG') }),
    startTimeoutMs: 10_000,
    dir,
  });
  return { ...server, host: '127.0.0.1', port, cli: (...args) => cliOn(port, ...args) };
}

/** `key\nvalue\nkey\nvalue` (redis-cli's raw output of a flat map reply) as a map. */
function pairs(flat: string): Map<string, string> {
  const lines = flat.split('\n');
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) map.set(lines[i]!, lines[i + 1]!);
  return map;
}

/** `role:master` from INFO replication, or undefined when the node does not answer. */
async function roleOf(node: RedisServerHandle): Promise<string | undefined> {
  const info = await node.cli('info', 'replication').catch(() => '');
  return /^role:(\w+)/m.exec(info)?.[1];
}

/**
 * Starts a master, `replicas` replicas and `sentinels` sentinels (`redis-server --sentinel` with a
 * generated config), on 127.0.0.1 and random free ports. Ready once every replica's link is up and every
 * sentinel knows the master, all replicas and all other sentinels.
 */
export async function startRedisSentinel(
  options: StartRedisSentinelOptions = {},
): Promise<RedisSentinelHandle> {
  requireBinary('redis-server', INSTALL_HINT);
  requireBinary('redis-cli', INSTALL_HINT);
  const replicas = options.replicas ?? 1;
  const sentinelCount = options.sentinels ?? 3;
  const masterName = options.masterName ?? 'backplane';
  const quorum = options.quorum ?? Math.floor(sentinelCount / 2) + 1;
  const downAfterMs = options.downAfterMs ?? 1_000;
  const failoverTimeoutMs = options.failoverTimeoutMs ?? 5_000;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;

  const servers: RedisServerHandle[] = [];
  const sentinels: RedisSentinelNodeHandle[] = [];
  const stop = async () => {
    await Promise.all(sentinels.map((s) => s.stop()));
    await Promise.all(servers.map((s) => s.stop()));
  };

  try {
    const master = await startRedis();
    servers.push(master);
    for (let i = 0; i < replicas; i++) {
      servers.push(await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] }));
    }
    // Replicas linked before the sentinels start: a sentinel learns them from its first INFO of the master
    // instead of the next periodic one (10 s later).
    await waitFor(
      async () => {
        for (const replica of servers.slice(1)) {
          if (!/master_link_status:up/.test(await replica.cli('info', 'replication'))) return false;
        }
        return true;
      },
      { timeoutMs: startTimeoutMs, name: 'every replica linked to the master' },
    );
    for (let i = 0; i < sentinelCount; i++) {
      sentinels.push(
        await startSentinelNode((port) => [
          'bind 127.0.0.1',
          `port ${port}`,
          'protected-mode no',
          'daemonize no',
          'sentinel announce-ip 127.0.0.1',
          `sentinel monitor ${masterName} 127.0.0.1 ${master.port} ${quorum}`,
          `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
          `sentinel failover-timeout ${masterName} ${failoverTimeoutMs}`,
          `sentinel parallel-syncs ${masterName} 1`,
        ]),
      );
    }
    await waitFor(
      async () => {
        for (const sentinel of sentinels) {
          const state = pairs(await sentinel.cli('sentinel', 'master', masterName));
          if (state.get('port') !== String(master.port) || state.get('flags') !== 'master') return false;
          if (state.get('num-slaves') !== String(replicas)) return false;
          if (state.get('num-other-sentinels') !== String(sentinelCount - 1)) return false;
          const known = (await sentinel.cli('sentinel', 'replicas', masterName)).split('\n');
          const healthy = known.filter((line, i) => line === 'flags' && known[i + 1] === 'slave').length;
          if (healthy !== replicas) return false;
        }
        return true;
      },
      {
        timeoutMs: startTimeoutMs,
        intervalMs: 100,
        name: 'every sentinel knowing the master, replicas, sentinels',
      },
    ).catch((error: unknown) => {
      throw new TopologyError('ERR_TOPOLOGY_NOT_READY', 'Redis Sentinel topology did not become ready', {
        cause: error,
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }

  const serverOn = (port: number): RedisServerHandle => {
    const server = servers.find((s) => s.port === port);
    if (!server)
      throw new TopologyError('ERR_TOPOLOGY_UNKNOWN_NODE', `No data node of this topology on ${port}`);
    return server;
  };
  /** The master's port as each answering sentinel reports it (dead sentinels left out). */
  const reportedMasterPorts = async (): Promise<number[]> => {
    const answers = await Promise.all(
      sentinels.map((s) =>
        s.cli('sentinel', 'get-master-addr-by-name', masterName).then(
          (out) => Number(out.split('\n')[1]),
          () => undefined,
        ),
      ),
    );
    return answers.filter((port): port is number => port !== undefined && Number.isInteger(port) && port > 0);
  };

  return {
    servers,
    sentinels,
    masterName,
    url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${masterName}`,
    sentinelNodes: sentinels.map((s) => ({ host: s.host, port: s.port })),
    master: async () => {
      const [port] = await reportedMasterPorts();
      if (port === undefined) throw new TopologyError('ERR_TOPOLOGY_NO_ANSWER', 'No sentinel answered');
      return serverOn(port);
    },
    waitForFailover: (oldMasterPort, timeoutMs = 30_000) =>
      waitFor(
        async () => {
          const ports = await reportedMasterPorts();
          const port = ports[0];
          if (port === undefined || port === oldMasterPort || ports.some((p) => p !== port)) return undefined;
          const candidate = serverOn(port);
          return (await roleOf(candidate)) === 'master' ? candidate : undefined;
        },
        {
          timeoutMs,
          intervalMs: 100,
          name: `sentinels agreeing on a master other than port ${oldMasterPort}`,
        },
      ),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
