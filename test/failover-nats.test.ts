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

describe('failover on a NATS cluster of three', () => {
  it('failover nats - durable (R3 by default): the stream leader SIGKILLed for good under load loses nothing', async () => {
    const cluster = await startNatsCluster({ size: 3 });
    try {
      const result = await runStreamScenario({
        serveArgs: ['--driver', 'nats', '--url', cluster.url, '--durable'],
        group: true,
        loadBeforeMs: LOAD_BEFORE_MS,
        recoverWithinMs: RECOVER_WITHIN_MS,
        fault: async () => {
          const leader = await cluster.streamLeader(STREAM);
          if (!leader) throw new Error(`no leader for the stream '${STREAM}'`);
          await leader.kill();
        },
      });
      expect(result.lost, warnings(result.b)).toBe(0);
      report.push(reportRow('nats cluster R3 --durable', 'SIGKILL stream leader', result));
    } finally {
      await cluster.stop();
    }
  }, 120_000);

  it('failover nats - durable (R3 by default): the server the sender is connected to SIGKILLed for good loses nothing', async () => {
    const cluster = await startNatsCluster({ size: 3 });
    try {
      const result = await runStreamScenario({
        serveArgs: ['--driver', 'nats', '--url', cluster.url, '--durable'],
        group: true,
        loadBeforeMs: LOAD_BEFORE_MS,
        recoverWithinMs: RECOVER_WITHIN_MS,
        fault: async () => {
          const server = await serverOf(cluster, 'a');
          if (!server) throw new Error('node a is connected to no server');
          await server.kill();
        },
      });
      expect(result.lost, warnings(result.b)).toBe(0);
      report.push(reportRow('nats cluster R3 --durable', "SIGKILL node A's server", result));
    } finally {
      await cluster.stop();
    }
  }, 120_000);

  it('failover nats - outbox mode: the server the sender is connected to SIGKILLed for good, every loss reported', async () => {
    const cluster = await startNatsCluster({ size: 3 });
    try {
      const result = await runStreamScenario({
        serveArgs: ['--driver', 'nats', '--url', cluster.url],
        group: true,
        loadBeforeMs: LOAD_BEFORE_MS,
        recoverWithinMs: RECOVER_WITHIN_MS,
        fault: async () => {
          const server = await serverOf(cluster, 'a');
          if (!server) throw new Error('node a is connected to no server');
          await server.kill();
        },
      });
      // runStreamScenario checks gaps + dropped >= lost, no duplicate, no reordering.
      report.push(reportRow('nats cluster', "SIGKILL node A's server", result));
    } finally {
      await cluster.stop();
    }
  }, 120_000);
});
