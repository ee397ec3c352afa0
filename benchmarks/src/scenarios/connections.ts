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
  const warm = Math.min(WARM, Math.floor(target / 4));
  progress.step(`connections: ${target.toLocaleString('en-US')} idle WebSockets on one node`);
  if (target < options.connections)
    progress.note(
      `open-file limit ${limit}: holding ${target} connections instead of ${options.connections}`,
    );
  const server = fork(processEntry('connection-node'), [], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const clients: ChildProcess[] = [];
  try {
    const { url } = await reply<{ url: string }>(server, 'listening', undefined, 30_000);
    for (let i = 0; i < options.clientProcesses; i++) {
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
    const result: ConnectionsResult = {
      connections: count,
      requested: options.connections,
      heapPerConnection: (loaded.heapUsed - baseline.heapUsed) / added,
      rssPerConnection: (loaded.rss - baseline.rss) / added,
      externalPerConnection: (loaded.external - baseline.external) / added,
      baseline: { heapUsed: baseline.heapUsed, rss: baseline.rss },
      loaded: { heapUsed: loaded.heapUsed, rss: loaded.rss },
      openFileLimit: limit,
      secondsToConnect,
      ...(opened !== count && { error: `opened ${opened}, the server holds ${count}` }),
    };
    progress.note(
      `${count} connections: ${(result.heapPerConnection / 1024).toFixed(2)} KB heap, ${(result.rssPerConnection / 1024).toFixed(2)} KB RSS per connection (connected in ${secondsToConnect.toFixed(1)} s)`,
    );
    return result;
  } finally {
    for (const client of clients) {
      client.send({ type: 'stop' });
      setTimeout(() => client.kill('SIGKILL'), 5_000).unref();
    }
    server.send({ type: 'stop' });
    setTimeout(() => server.kill('SIGKILL'), 5_000).unref();
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
