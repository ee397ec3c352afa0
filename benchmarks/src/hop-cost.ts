/**
 * The cost of serving Server-Sent Events and long polling without sticky sessions: the same client behind
 * a balancer with one target (every request on the connection's own node: the proxy hop only) and behind
 * a round-robin balancer over three nodes (most requests forwarded to the owner through the backplane).
 * Prints invoke round trips (p50 / p99) and server-to-client throughput per transport and driver.
 *
 *   node benchmarks/dist/hop-cost.js [--drivers memory,redis] [--rounds 300] [--messages 2000]
 *
 * Everything runs in this process (three nodes, the balancer, the client): read the numbers as a
 * comparison between the two setups, not as absolute figures.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Driver, HubLifetimeManager } from '@backplane/core';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { RedisDriver } from '@backplane/redis';
import { Hub, HubServer } from '@backplane/signalr';
import { startRedis, startRoundRobinBalancer } from '@backplane/testkit';
import * as signalR from '@microsoft/signalr';

class BenchHub extends Hub {
  Echo(value: unknown) {
    return value;
  }
  GetConnectionId() {
    return this.context.connectionId;
  }
  async Burst(connectionId: string, count: number) {
    for (let i = 0; i < count; i++) void this.clients.client(connectionId).send('M', i);
  }
}

interface BenchNode {
  url: string;
  server: Server;
  hubs: HubServer;
  manager: HubLifetimeManager;
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function startNode(driver: Driver, nodeId: string): Promise<BenchNode> {
  const manager = new HubLifetimeManager({ driver, nodeId, hub: 'bench', logger: quiet });
  await manager.start();
  const server = createServer();
  const hubs = new HubServer({ tokenSecret: 'bench-secret', logger: quiet })
    .mapHub('/bench', BenchHub, manager)
    .attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hubs, manager };
}

async function stopNode(node: BenchNode): Promise<void> {
  await node.hubs.close();
  node.server.closeAllConnections();
  await new Promise((resolve) => node.server.close(resolve));
  await node.manager.close();
}

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function measure(
  url: string,
  transport: 'LongPolling' | 'ServerSentEvents',
  rounds: number,
  messages: number,
) {
  const connection = new signalR.HubConnectionBuilder()
    .withUrl(`${url}/bench`, { transport: signalR.HttpTransportType[transport] })
    .configureLogging(signalR.LogLevel.None)
    .build();
  await connection.start();
  try {
    for (let i = 0; i < 20; i++) await connection.invoke('Echo', i); // warm-up
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const start = process.hrtime.bigint();
      await connection.invoke('Echo', i);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    times.sort((a, b) => a - b);
    const id = await connection.invoke<string>('GetConnectionId');
    let received = 0;
    const done = new Promise<void>((resolve) =>
      connection.on('M', () => {
        if (++received === messages) resolve();
      }),
    );
    const start = process.hrtime.bigint();
    await connection.invoke('Burst', id, messages);
    await done;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return { p50: percentile(times, 50), p99: percentile(times, 99), perSecond: messages / seconds };
  } finally {
    await connection.stop();
  }
}

async function main() {
  const drivers = arg('drivers', 'memory,redis').split(',');
  const rounds = Number(arg('rounds', '300'));
  const messages = Number(arg('messages', '2000'));
  const rows: string[] = [
    '| driver | transport | setup | invoke p50 (ms) | invoke p99 (ms) | server→client (msg/s) |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const name of drivers) {
    let stopBroker = async () => {};
    let driver: () => Driver;
    if (name === 'redis') {
      const redis = await startRedis();
      stopBroker = () => redis.stop();
      driver = () => new RedisDriver({ url: redis.url });
    } else {
      const bus = new MemoryBus();
      driver = () => new MemoryDriver({ bus });
    }
    const nodes = await Promise.all(['a', 'b', 'c'].map((id) => startNode(driver(), `${name}-${id}`)));
    const single = await startRoundRobinBalancer([nodes[0]!.url]);
    const roundRobin = await startRoundRobinBalancer(nodes.map((n) => n.url));
    try {
      for (const transport of ['LongPolling', 'ServerSentEvents'] as const) {
        // Alternate the setups, keep the median of three runs each.
        const results: Record<string, Array<Awaited<ReturnType<typeof measure>>>> = {
          'one node': [],
          'round robin, 3 nodes': [],
        };
        for (let run = 0; run < 3; run++) {
          results['one node']!.push(await measure(single.url, transport, rounds, messages));
          results['round robin, 3 nodes']!.push(await measure(roundRobin.url, transport, rounds, messages));
        }
        for (const [setup, runs] of Object.entries(results)) {
          const median = (pick: (r: (typeof runs)[number]) => number) =>
            runs.map(pick).sort((a, b) => a - b)[1]!;
          rows.push(
            `| ${name} | ${transport} | ${setup} | ${median((r) => r.p50).toFixed(2)} | ${median((r) => r.p99).toFixed(2)} | ${Math.round(median((r) => r.perSecond))} |`,
          );
          process.stderr.write(`${rows[rows.length - 1]}\n`);
        }
      }
    } finally {
      await single.close();
      await roundRobin.close();
      await Promise.all(nodes.map(stopNode));
      await stopBroker();
    }
  }
  process.stdout.write(`${rows.join('\n')}\n`);
}

await main();
