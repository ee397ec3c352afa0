import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../wait-for.js';
import { freePort, freePortPair } from './free-port.js';
import { requireBinary } from './managed-process.js';
import { type ServerProcessHandle, startServerProcess, tcpProbe } from './server-process.js';

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

/** A real Redis Cluster of `masters` nodes (no replicas) on random ports. */
export interface RedisClusterHandle {
  readonly nodes: readonly RedisServerHandle[];
  /** Startup nodes for ioredis. */
  readonly startupNodes: ReadonlyArray<{ host: string; port: number }>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts `masters` cluster-enabled redis-servers and joins them with `redis-cli --cluster create`. */
export async function startRedisCluster(options: { masters?: number } = {}): Promise<RedisClusterHandle> {
  requireBinary('redis-cli', INSTALL_HINT);
  const masters = options.masters ?? 3;
  const nodes: RedisServerHandle[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) {
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
          ],
        }),
      );
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await waitFor(
      async () => {
        for (const node of nodes) {
          const info = await node.cli('cluster', 'info');
          if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_assigned:16384'))
            return false;
          const known = await node.cli('cluster', 'nodes');
          if (
            known.split('\n').filter((line) => line.includes('master') && line.includes('connected')).length <
            masters
          )
            return false;
        }
        return true;
      },
      { timeoutMs: 30_000, name: 'redis cluster state ok on every node' },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodes,
    startupNodes: nodes.map((n) => ({ host: n.host, port: n.port })),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
