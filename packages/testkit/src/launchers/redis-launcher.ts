import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../wait-for.js';
import { freePort, freePortPair } from './free-port.js';
import { ManagedProcess, requireBinary } from './managed-process.js';

const INSTALL_HINT = 'apt-get install redis-server redis-tools (Debian/Ubuntu) or brew install redis (macOS)';
const run = promisify(execFile);

/** A real redis-server on a random port, for tests; fault helpers keep the port across restarts. */
export interface RedisServerHandle {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** Sends a command with redis-cli and returns its output (trimmed). */
  cli(...args: string[]): Promise<string>;
  /** Graceful stop (SIGTERM); the data directory is removed. */
  stop(): Promise<void>;
  /** SIGKILL, as in a crash; `restart()` brings it back on the same port. */
  kill(): Promise<void>;
  /** SIGSTOP: TCP stays open, nothing answers. */
  freeze(): void;
  thaw(): void;
  /** Starts again on the same port (after `kill()` or `stop()`), waiting until it answers PING. */
  restart(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface StartRedisOptions {
  /** @default a random free port */
  port?: number;
  /** Extra redis-server arguments, e.g. ['--cluster-enabled', 'yes']. */
  args?: readonly string[];
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
    ...(options.args ?? []),
  ];
  let proc = new ManagedProcess('redis-server', args);
  const timeoutMs = options.startTimeoutMs ?? 10_000;

  const launch = async () => {
    proc = new ManagedProcess('redis-server', args);
    proc.start();
    let exited = false;
    void proc.exited().then(() => {
      exited = true;
    });
    await waitFor(
      async () => {
        if (exited) throw new Error(`redis-server exited early:\n${proc.output}`);
        return ping(port);
      },
      { timeoutMs, name: `redis-server on port ${port}` },
    ).catch(async (error: unknown) => {
      await proc.kill();
      throw error;
    });
  };
  await launch();

  const cli = async (...command: string[]) => {
    requireBinary('redis-cli', INSTALL_HINT);
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...command]);
    return stdout.trim();
  };
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    cli,
    stop,
    kill: () => proc.kill(),
    freeze: () => proc.freeze(),
    thaw: () => proc.thaw(),
    restart: async () => {
      await proc.kill();
      await launch();
    },
    [Symbol.asyncDispose]: stop,
  };
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

/** PING over a raw TCP connection: true once the server answers +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}
