import { startRedisCluster, startRedisSentinel } from '@backplane/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { reportRow, runStreamScenario, warnings } from './steady-stream.js';

/** How long the steady load runs before the fault (plus up to 1 s at random), in ms. */
const LOAD_BEFORE_MS = 1_000;
/** Failover (detection, election, promotion) and recovery of both links, in ms. */
const RECOVER_WITHIN_MS = 60_000;
/** The group channel `serve` uses for group 'g' (default prefix and hub). */
const GROUP_CHANNEL = 'backplane:chat:group:g';

/** Results for docs/guarantees.md, printed at the end of the run. */
const report: string[] = [];
afterAll(() => {
  if (report.length) process.stdout.write(`\nfailover results\n${report.join('\n')}\n`);
});

describe('redis failover end to end', () => {
  for (const durable of [false, true]) {
    const label = `redis sentinel 1+1${durable ? ' --durable' : ''}`;
    it(`failover ${label} - SIGKILL of the master under load: serve follows the promoted replica, every loss reported, no duplicate, order kept`, async () => {
      const sentinel = await startRedisSentinel();
      try {
        const result = await runStreamScenario({
          serveArgs: ['--driver', 'redis', '--url', sentinel.url, ...(durable ? ['--durable'] : [])],
          group: true,
          loadBeforeMs: LOAD_BEFORE_MS,
          recoverWithinMs: RECOVER_WITHIN_MS,
          fault: async () => {
            const master = await sentinel.master();
            await master.kill();
            await sentinel.waitForFailover(master.port, RECOVER_WITHIN_MS);
          },
        });
        // Durable mode: what the promoted replica never received is reported as a gap; nothing else is lost.
        if (durable) expect(result.gaps, warnings(result.b)).toBe(result.lost);
        report.push(reportRow(label, 'SIGKILL master', result));
      } finally {
        await sentinel.stop();
      }
    }, 180_000);
  }

  it('failover redis cluster 3+3 - SIGKILL of the master owning the group channel under load: sharded subscriptions move to the promoted replica, every loss reported', async () => {
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    try {
      const url = `redis+cluster://${cluster.startupNodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
      const result = await runStreamScenario({
        serveArgs: ['--driver', 'redis', '--url', url],
        group: true,
        loadBeforeMs: LOAD_BEFORE_MS,
        recoverWithinMs: RECOVER_WITHIN_MS,
        fault: async () => {
          const first = cluster.nodes[0]!;
          // A key-less GET is redirected (MOVED) to the master serving the channel's slot.
          const reply = await first.cli('get', GROUP_CHANNEL);
          const owner = Number(/MOVED \d+ [\d.]+:(\d+)/.exec(reply)?.[1] ?? first.port);
          await cluster.nodes.find((n) => n.port === owner)!.kill();
          await cluster.waitForPromotion(owner, RECOVER_WITHIN_MS);
        },
      });
      report.push(reportRow('redis cluster 3+3', 'SIGKILL master of the group slot', result));
    } finally {
      await cluster.stop();
    }
  }, 180_000);
});
