import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { processEntry } from '../servers.js';
import type { Progress } from '../util/progress.js';

export interface ConnectionsOptions {
  /** Idle connections to hold on the one node (capped by the open-file limit, see the result). */
  connections: number;
  /** Client processes sharing the connections. */
  clientProcesses: number;
}

export interface ConnectionsResult {
  /** Connections the node held when measured. */
  readonly connections: number;
  /** Asked for; more than `connections` when the open-file limit capped it. */
  readonly requested: number;
  /** Bytes per connection, after two full GCs, above a baseline taken with {@link WARM} connections open. */
  readonly heapPerConnection: number;
  readonly rssPerConnection: number;
  /** Node's off-heap buffers (ArrayBuffers, sockets' native memory shows up in RSS only). */
  readonly externalPerConnection: number;
  readonly baseline: { heapUsed: number; rss: number };
  readonly loaded: { heapUsed: number; rss: number };
  readonly openFileLimit: number;
  readonly secondsToConnect: number;
  /**
   * The floor, measured the same way: a bare `http` + `ws` server that answers negotiate and the handshake
   * and keeps the sockets in a set. What backplane adds per connection is the difference.
   */
  readonly floor?: { heapPerConnection: number; rssPerConnection: number; error?: string };
  readonly error?: string;
}

/** Connections opened before the baseline (at most), so lazily loaded code and warm caches are not counted. */
const WARM = 200;
/** File descriptors the server keeps for itself (listening socket, stdio, libuv, the IPC channel). */
const RESERVED_FDS = 300;

interface Memory {
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
  gc: boolean;
}

/**
 * Connections: one node (`backplane serve` internals, memory driver) holding N idle WebSocket connections;
 * heap and RSS per connection after full GCs. The server runs with `--expose-gc`.
 */
export async function runConnections(
  options: ConnectionsOptions,
  progress: Progress,
): Promise<ConnectionsResult> {
  const limit = openFileLimit();
  const target = Math.min(options.connections, limit - RESERVED_FDS);
  progress.step(`connections: ${target.toLocaleString('en-US')} idle WebSockets on one node`);
  if (target < options.connections)
    progress.note(
      `open-file limit ${limit}: holding ${target} connections instead of ${options.connections}`,
    );
  const node = await measure('connection-node', target, options.clientProcesses);
  progress.note(
    `${node.connections} connections: ${(node.heapPerConnection / 1024).toFixed(2)} KB heap, ${(node.rssPerConnection / 1024).toFixed(2)} KB RSS per connection (connected in ${node.secondsToConnect.toFixed(1)} s)`,
  );
  progress.detail('connections: the floor, a bare ws server');
  let floor: ConnectionsResult['floor'];
  try {
    const bare = await measure('bare-ws-node', target, options.clientProcesses);
    floor = {
      heapPerConnection: bare.heapPerConnection,
      rssPerConnection: bare.rssPerConnection,
      ...(bare.error && { error: bare.error }),
    };
    progress.note(
      `floor (bare ws): ${(bare.heapPerConnection / 1024).toFixed(2)} KB heap, ${(bare.rssPerConnection / 1024).toFixed(2)} KB RSS per connection`,
    );
  } catch (error) {
    floor = { heapPerConnection: Number.NaN, rssPerConnection: Number.NaN, error: String(error) };
  }
  return {
    ...node,
    requested: options.connections,
    openFileLimit: limit,
    floor,
  };
}

/** Holds `target` idle connections on a forked server and measures its memory per connection. */
async function measure(
  entry: 'connection-node' | 'bare-ws-node',
  target: number,
  clientProcesses: number,
): Promise<Omit<ConnectionsResult, 'requested' | 'openFileLimit' | 'floor'>> {
  const warm = Math.min(WARM, Math.floor(target / 4));
  const server = fork(processEntry(entry), [], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const clients: ChildProcess[] = [];
  try {
    const { url } = await reply<{ url: string }>(server, 'listening', undefined, 30_000);
    for (let i = 0; i < clientProcesses; i++) {
      const client = fork(processEntry('ws-clients'), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      clients.push(client);
      await reply(client, 'ready', undefined, 30_000);
    }
    await openOn(clients.slice(0, 1), url, warm);
    const baseline = await reply<Memory>(server, 'memory', { type: 'memory' }, 30_000);
    const started = Date.now();
    let opened = warm;
    const share = Math.ceil((target - warm) / clients.length);
    const results = await Promise.all(
      clients.map((client, i) => {
        const count = Math.min(share, target - warm - share * i);
        return count > 0 ? openOn([client], url, count) : Promise.resolve(0);
      }),
    );
    opened += results.reduce((a, b) => a + b, 0);
    const secondsToConnect = (Date.now() - started) / 1000;
    const { count } = await reply<{ count: number }>(server, 'connections', { type: 'connections' }, 10_000);
    const loaded = await reply<Memory>(server, 'memory', { type: 'memory' }, 60_000);
    const added = count - warm;
    return {
      connections: count,
      heapPerConnection: (loaded.heapUsed - baseline.heapUsed) / added,
      rssPerConnection: (loaded.rss - baseline.rss) / added,
      externalPerConnection: (loaded.external - baseline.external) / added,
      baseline: { heapUsed: baseline.heapUsed, rss: baseline.rss },
      loaded: { heapUsed: loaded.heapUsed, rss: loaded.rss },
      secondsToConnect,
      ...(opened !== count && { error: `opened ${opened}, the server holds ${count}` }),
    };
  } finally {
    const exited = (child: ChildProcess) =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve(undefined);
        else child.once('exit', resolve);
      });
    const all = [...clients, server];
    for (const child of all) {
      child.send({ type: 'stop' });
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }
    // The next measurement needs the file descriptors back.
    await Promise.all(all.map(exited));
  }
}

async function openOn(clients: ChildProcess[], url: string, count: number): Promise<number> {
  const answer = await reply<{ count: number; failed: number; error?: string }>(
    clients[0]!,
    'opened',
    { type: 'open', url, count },
    300_000,
  );
  if (answer.failed > 0) throw new Error(`${answer.failed} of ${count} connections failed: ${answer.error}`);
  return count;
}

/** Sends `request` (if any) and waits for the next message of `type` from `child`. */
function reply<T>(
  child: ChildProcess,
  type: string,
  request: object | undefined,
  timeoutMs: number,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`no '${type}' from ${child.spawnfile} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: { type: string }) => {
      if (message.type !== type) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message as T);
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${child.spawnfile} exited (${code}) before '${type}'`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (request) child.send(request);
  });
}

/** The soft open-file limit this process (and so its children) run under. */
function openFileLimit(): number {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim()) || 1024;
  } catch {
    return 1024;
  }
}
