import { fileURLToPath } from 'node:url';
import { ManagedProcess, startKafka, startNats, startRedis, waitFor } from '@backplane/testkit';

/** The built `backplane` command. */
/** A broker for each driver `serve` takes a URL for, started by testkit on a random port. */
export const SERVE_BROKERS: ReadonlyArray<{
  readonly name: 'redis' | 'nats' | 'kafka';
  start(): Promise<{ url: string; stop(): Promise<void> }>;
}> = [
  { name: 'redis', start: () => startRedis() },
  { name: 'nats', start: () => startNats() },
  {
    name: 'kafka',
    start: async () => {
      const kafka = await startKafka();
      return { url: kafka.bootstrap, stop: () => kafka.stop() };
    },
  },
];

export const CLI = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));

export interface ServeProcess {
  readonly url: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

/** Starts `backplane serve ...args --port 0` and waits for its `listening on` line. */
export async function startServe(
  args: readonly string[],
  env?: Record<string, string>,
): Promise<ServeProcess> {
  const proc = new ManagedProcess(process.execPath, [CLI, 'serve', '--port', '0', ...args], { env });
  proc.start();
  let exited = false;
  void proc.exited().then(() => {
    exited = true;
  });
  const match = await waitFor(
    () => {
      if (exited) throw new Error(`backplane serve exited:\n${proc.output}`);
      return /listening on (\S+)/.exec(proc.output);
    },
    { timeoutMs: 20_000, name: 'backplane serve to listen' },
  );
  return { url: match[1]!, process: proc, stop: () => proc.stop() };
}

/** Runs the CLI to completion and returns its exit code and output. */
export async function runCli(
  args: readonly string[],
  timeoutMs = 30_000,
  env?: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const proc = new ManagedProcess(process.execPath, [CLI, ...args], { env });
  proc.start();
  const timer = setTimeout(() => void proc.kill(), timeoutMs);
  const code = await proc.exited();
  clearTimeout(timer);
  return { code, output: proc.output };
}

/**
 * A node's `/metrics`: each series as `name{label="value",...}` (labels sorted by name), and each metric name
 * alone as the sum of its series (the value itself for a metric without labels).
 */
export async function scrapeMetrics(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const values: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const [, name, labels, value] = match as unknown as [string, string, string | undefined, string];
    values[name] = (values[name] ?? 0) + Number(value);
    if (labels === undefined) continue;
    const sorted = [...labels.matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, key, text]) => `${key}="${text}"`)
      .sort();
    values[`${name}{${sorted.join(',')}}`] = Number(value);
  }
  return values;
}
