import { fileURLToPath } from 'node:url';
import { ManagedProcess } from '@backplane/testkit';
import { pollUntil } from './util/wait.js';

/** A server process of a benchmark: `backplane serve`, the socket.io peer, or the connection probe. */
export interface ServerProcess {
  readonly url: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

/** The built `backplane` command of this repository. */
export const CLI = fileURLToPath(import.meta.resolve('@backplane/cli').replace(/index\.js$/, 'main.js'));
/** Entry points of this package's helper processes (built next to this file). */
export function processEntry(
  name: 'socketio-node' | 'connection-node' | 'bare-ws-node' | 'ws-clients',
): string {
  return fileURLToPath(new URL(`./processes/${name}.js`, import.meta.url));
}

/** Starts `node ...args` and waits for its `listening on URL` line. */
export async function startListening(
  args: readonly string[],
  nodeFlags: readonly string[] = [],
): Promise<ServerProcess> {
  // Profiling aid: BACKPLANE_BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles every server.
  const extra = process.env.BACKPLANE_BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  const proc = new ManagedProcess(process.execPath, [...nodeFlags, ...extra, ...args]);
  proc.start();
  let exited = false;
  void proc.exited().then(() => {
    exited = true;
  });
  let url = '';
  await pollUntil(
    () => {
      if (exited) throw new Error(`${args.join(' ')} exited:\n${proc.output}`);
      // Not the inspector's 'Debugger listening on ws://…' (a profiled node prints both).
      url = /(?:^|\n)listening on (\S+)/.exec(proc.output)?.[1] ?? '';
      return url !== '';
    },
    30_000,
    `${args[0]} to listen`,
  );
  return { url, process: proc, stop: () => proc.stop() };
}

/** `backplane serve --driver <driver> --url <url>` on a free port (no `--url`: the memory driver). */
export function startServe(
  driver: string,
  url: string | undefined,
  prefix: string,
  extra: readonly string[] = [],
  nodeFlags: readonly string[] = [],
) {
  return startListening(
    [
      CLI,
      'serve',
      '--port',
      '0',
      '--driver',
      driver,
      ...(url === undefined ? [] : ['--url', url]),
      '--prefix',
      prefix,
      ...extra,
    ],
    nodeFlags,
  );
}

/** The socket.io + redis-adapter peer on a free port; `'none'`: one node on the in-memory adapter. */
export function startSocketIoNode(redisUrl: string | 'none') {
  return startListening([processEntry('socketio-node'), redisUrl, '0']);
}

/** The bare `ws` floor on a free port, forwarding frame by frame or batched per event-loop turn. */
export function startBareWsNode(mode: 'forward' | 'batched') {
  return startListening([processEntry('bare-ws-node'), mode]);
}
