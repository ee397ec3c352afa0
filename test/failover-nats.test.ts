import { type NatsClusterHandle, type NatsClusterServerHandle, startNatsCluster } from '@backplane/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { reportRow, runStreamScenario, warnings } from './steady-stream.js';

/** How long the steady load runs before the fault (plus up to 1 s at random), in ms. */
const LOAD_BEFORE_MS = 1_000;
/** How long both links may take to be up and the load flowing again after the kill, in ms. */
const RECOVER_WITHIN_MS = 30_000;
/** The JetStream stream `serve --driver nats --durable` keeps its log in (the driver's default name). */
const STREAM = 'bp-log';

/** Results for docs/guarantees.md, printed at the end of the run. */
const report: string[] = [];
afterAll(() => {
  if (report.length) process.stdout.write(`\nnats failover results\n${report.join('\n')}\n`);
});

interface Connz {
  connections?: Array<{ subscriptions_list?: string[] }>;
}

/**
 * The server a serve node is connected to: the one holding the subscription to the node's inbox
 * (`…:server:<node id>-<epoch>`, a subject `bp.<base64url(channel)>`), read from `/connz?subs=1`.
 */
async function serverOf(
  cluster: NatsClusterHandle,
  nodeId: string,
): Promise<NatsClusterServerHandle | undefined> {
  for (const server of cluster.servers) {
    const connz = (await fetch(`http://127.0.0.1:${server.monitorPort}/connz?subs=1`, {
      signal: AbortSignal.timeout(2_000),
    })
      .then((r) => r.json())
      .catch(() => undefined)) as Connz | undefined;
    const subjects = connz?.connections?.flatMap((c) => c.subscriptions_list ?? []) ?? [];
    const channels = subjects.map((s) => Buffer.from(s.split('.')[1] ?? '', 'base64url').toString('utf8'));
    if (channels.some((c) => c.includes(`:server:${nodeId}-`))) return server;
  }
  return undefined;
}

/** Which server dies: the stream's leader, or the one serve node A is connected to. */
async function victim(
  cluster: NatsClusterHandle,
  which: 'stream leader' | 'node A',
): Promise<NatsClusterServerHandle> {
  const server =
    which === 'stream leader' ? await cluster.streamLeader(STREAM) : await serverOf(cluster, 'a');
  if (!server)
    throw new Error(
      which === 'stream leader' ? `no leader for the stream '${STREAM}'` : 'node a is connected to no server',
    );
  return server;
}

const cases = [
  {
    title: 'durable (R3 by default): the stream leader SIGKILLed for good under load loses nothing',
    durable: true,
    kill: 'stream leader',
    fault: 'SIGKILL stream leader',
  },
  {
    title: 'durable (R3 by default): the server the sender is connected to SIGKILLed for good loses nothing',
    durable: true,
    kill: 'node A',
    fault: "SIGKILL node A's server",
  },
  {
    title: 'outbox mode: the server the sender is connected to SIGKILLed for good, every loss reported',
    durable: false,
    kill: 'node A',
    fault: "SIGKILL node A's server",
  },
] as const;

describe('failover on a NATS cluster of three', () => {
  for (const c of cases) {
    it(`failover nats - ${c.title}`, async () => {
      const cluster = await startNatsCluster({ size: 3 });
      try {
        const result = await runStreamScenario({
          serveArgs: ['--driver', 'nats', '--url', cluster.url, ...(c.durable ? ['--durable'] : [])],
          group: true,
          loadBeforeMs: LOAD_BEFORE_MS,
          recoverWithinMs: RECOVER_WITHIN_MS,
          fault: async () => (await victim(cluster, c.kill)).kill(),
        });
        // runStreamScenario checks gaps + dropped >= lost, no duplicate, no reordering; durable loses nothing.
        if (c.durable) expect(result.lost, warnings(result.b)).toBe(0);
        report.push(reportRow(`nats cluster${c.durable ? ' R3 --durable' : ''}`, c.fault, result));
      } finally {
        await cluster.stop();
      }
    }, 120_000);
  }
});
