import { startKafka, startNats, startRedis, startTcpProxy, type TcpProxy } from '@backplane/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { reportRow, runStreamScenario, warnings } from './steady-stream.js';

/** How long the steady load runs before the fault (plus up to 1 s at random), in ms. */
const LOAD_BEFORE_MS = 1_000;
/** How long a killed broker stays dead, and a frozen one frozen, in ms. */
const OUTAGE_MS = 2_000;
const FREEZE_MS = 6_000;
/** How long the proxy swallows every byte, in ms. */
const BLACKHOLE_MS = 6_000;

interface Broker {
  url: string;
  port: number;
  kill(): Promise<void>;
  restart(): Promise<void>;
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

const drivers: Array<{
  name: string;
  start: () => Promise<Broker>;
  flags?: string[];
  proxyUrl?: (port: number) => string;
}> = [
  { name: 'redis', start: () => startRedis(), proxyUrl: (port) => `redis://127.0.0.1:${port}` },
  {
    name: 'redis',
    flags: ['--durable'],
    proxyUrl: (port) => `redis://127.0.0.1:${port}`,
    // The log must outlive a SIGKILL: append-only file, fsync on every write.
    start: () => startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] }),
  },
  // Kafka clients connect to the advertised broker address after bootstrap, so a proxy cannot sit in between.
  { name: 'nats', start: () => startNats(), proxyUrl: (port) => `nats://127.0.0.1:${port}` },
  // JetStream's file store outlives a SIGKILL (the page cache keeps what was written).
  {
    name: 'nats',
    flags: ['--durable'],
    start: () => startNats(),
    proxyUrl: (port) => `nats://127.0.0.1:${port}`,
  },
  { name: 'kafka', start: () => kafka() },
  { name: 'kafka', flags: ['--durable'], start: () => kafka() },
];

async function kafka(): Promise<Broker> {
  const k = await startKafka();
  return { ...k, url: k.bootstrap };
}

/** Results for docs/guarantees.md, printed at the end of the run. */
const report: string[] = [];
afterAll(() => {
  if (report.length) process.stdout.write(`\nfault results\n${report.join('\n')}\n`);
});

for (const driver of drivers) {
  const label = `${driver.name}${driver.flags ? ` ${driver.flags.join(' ')}` : ''}`;
  describe(`faults on ${label}`, () => {
    const faults = ['kill', 'freeze', ...(driver.proxyUrl ? (['blackhole'] as const) : [])] as const;
    const what = {
      kill: 'broker SIGKILL + restart',
      freeze: 'broker SIGSTOP + SIGCONT',
      blackhole: 'network black hole',
    };
    for (const fault of faults) {
      it(`fault ${label} - ${what[fault]} under load: no crash, no client dropped, every loss reported, no duplicate, order kept`, async () => {
        const broker = await driver.start();
        const proxy: TcpProxy | undefined =
          fault === 'blackhole' ? await startTcpProxy(broker.port) : undefined;
        const url = proxy && driver.proxyUrl ? driver.proxyUrl(proxy.port) : broker.url;
        try {
          const result = await runStreamScenario({
            serveArgs: ['--driver', driver.name, '--url', url, ...(driver.flags ?? [])],
            loadBeforeMs: LOAD_BEFORE_MS,
            fault: async () => {
              if (fault === 'kill') {
                await broker.kill();
                await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
                await broker.restart();
              } else if (fault === 'freeze') {
                broker.freeze();
                await new Promise((resolve) => setTimeout(resolve, FREEZE_MS));
                broker.thaw();
              } else {
                proxy?.blackhole(true);
                await new Promise((resolve) => setTimeout(resolve, BLACKHOLE_MS));
                proxy?.blackhole(false);
              }
            },
          });
          // Durable mode: nothing is lost at all; what B missed live came back from the log.
          if (driver.flags?.includes('--durable')) expect(result.lost, warnings(result.b)).toBe(0);
          report.push(reportRow(label, fault, result));
        } finally {
          broker.thaw();
          await proxy?.close();
          await broker.stop();
        }
      }, 180_000);
    }
  });
}
