import { startKafka, startNats, startRedis, startTcpProxy, type TcpProxy, waitFor } from '@backplane/testkit';
import * as signalR from '@microsoft/signalr';
import { afterAll, describe, expect, it } from 'vitest';
import { type ServeProcess, scrapeMetrics, startServe } from './serve-process.js';

/** One message every this many ms from the sender, in ms. */
const SEND_EVERY_MS = 20;
/** How long the steady load runs before the fault, and after recovery, in ms. */
const LOAD_BEFORE_MS = 1_000;
const LOAD_AFTER_MS = 2_000;
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

interface Health {
  link: string;
  /** From `/metrics`: `/health` is minimal. */
  stats: { gaps: number; dropped: number; replayed: number };
}
const health = async (node: ServeProcess): Promise<Health> => {
  const { link } = (await (await fetch(`${node.url}/health`)).json()) as { link: string };
  const m = await scrapeMetrics(node.url);
  return {
    link,
    stats: {
      gaps: m.backplane_gap_messages_total ?? Number.NaN,
      dropped: m.backplane_outbox_dropped_total ?? Number.NaN,
      replayed: m.backplane_replayed_total ?? Number.NaN,
    },
  };
};

async function client(url: string, user: string) {
  const c = new signalR.HubConnectionBuilder()
    .withUrl(`${url}/chat?user=${user}`, { transport: signalR.HttpTransportType.WebSockets })
    .configureLogging(signalR.LogLevel.None)
    .build();
  await c.start();
  return c;
}

/** A node's warnings and errors, to explain a failed check. */
function warnings(node: ServeProcess): string {
  const lines = node.process.output.split('\n').filter((l) => /warn|error/i.test(l));
  return `node ${node.url} logged:\n${lines.slice(-20).join('\n')}`;
}

/** What the receiver saw of the sender's numbered messages. */
function tally(sent: number, received: number[]) {
  const unique = new Set(received);
  let reordered = 0;
  for (let i = 1; i < received.length; i++) if (received[i]! < received[i - 1]!) reordered++;
  return {
    sent,
    received: received.length,
    lost: sent - unique.size,
    duplicated: received.length - unique.size,
    reordered,
  };
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
        const nodes: ServeProcess[] = [];
        const clients: signalR.HubConnection[] = [];
        try {
          for (const id of ['a', 'b'])
            nodes.push(
              await startServe([
                '--driver',
                driver.name,
                '--url',
                url,
                '--node-id',
                id,
                '--token-secret',
                't',
                ...(driver.flags ?? []),
              ]),
            );
          const [a, b] = nodes as [ServeProcess, ServeProcess];
          const sender = await client(a.url, 'sender');
          const receiver = await client(b.url, 'receiver');
          clients.push(sender, receiver);
          const received: number[] = [];
          receiver.on('ReceiveMessage', (_user: string, n: string) => received.push(Number(n)));

          let sent = 0;
          let sending = true;
          const load = (async () => {
            while (sending) {
              await sender.invoke('SendMessage', 'sender', String(sent++));
              await new Promise((resolve) => setTimeout(resolve, SEND_EVERY_MS));
            }
          })();
          await waitFor(() => received.length > 10, { name: 'traffic before the fault' });
          await new Promise((resolve) => setTimeout(resolve, LOAD_BEFORE_MS));

          const faultAt = Date.now();
          let detectedMs: number | undefined;
          const watch = (async () => {
            while (detectedMs === undefined && Date.now() - faultAt < 15_000) {
              if ((await health(a)).link !== 'up') detectedMs = Date.now() - faultAt;
              else await new Promise((resolve) => setTimeout(resolve, 25));
            }
          })();
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
          await watch;
          await waitFor(async () => (await health(a)).link === 'up' && (await health(b)).link === 'up', {
            name: 'both links up again',
            timeoutMs: 60_000,
          });
          const recoveredMs = Date.now() - faultAt;
          await new Promise((resolve) => setTimeout(resolve, LOAD_AFTER_MS));
          sending = false;
          await load;
          const last = sent - 1;
          // Everything after recovery arrives: wait for the last message, then for stragglers to settle.
          await waitFor(() => received.includes(last), { name: 'the last message', timeoutMs: 30_000 });
          const result = tally(sent, received);
          const [ha, hb] = [await health(a), await health(b)];

          expect(a.process.running && b.process.running).toBe(true);
          expect(sender.state).toBe(signalR.HubConnectionState.Connected);
          expect(receiver.state).toBe(signalR.HubConnectionState.Connected);
          expect(result.duplicated).toBe(0);
          expect(result.reordered).toBe(0);
          // Nothing is lost silently: every message B never got is a gap B reported, or a drop A reported.
          expect(hb.stats.gaps + ha.stats.dropped).toBeGreaterThanOrEqual(result.lost);
          // Durable mode: nothing is lost at all; what B missed live came back from the log.
          if (driver.flags?.includes('--durable')) expect(result.lost, warnings(b)).toBe(0);

          report.push(
            `| ${label} | ${fault} | ${result.sent} | ${result.lost} | ${result.duplicated} | ${result.reordered} | ${hb.stats.gaps} | ${ha.stats.dropped} | ${hb.stats.replayed} | ${detectedMs ?? 'not detected'} | ${recoveredMs} |`,
          );
        } finally {
          await Promise.allSettled(clients.map((c) => c.stop()));
          await Promise.allSettled(nodes.map((n) => n.stop()));
          broker.thaw();
          await proxy?.close();
          await broker.stop();
        }
      }, 180_000);
    }
  });
}
