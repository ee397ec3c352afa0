import {
  type KafkaClusterBrokerHandle,
  type KafkaClusterHandle,
  startKafkaCluster,
  waitFor,
} from '@backplane/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { reportRow, runStreamScenario, warnings } from './steady-stream.js';

/** How long the steady load runs before the fault (plus up to 1 s at random), in ms. */
const LOAD_BEFORE_MS = 1_500;
/**
 * How long both links may take to be up again after the partition leader is SIGKILLed for good, in ms:
 * the cluster fences the dead broker (its session, 3 s here) and elects a new leader; the driver's own
 * bound (packages/kafka README, "Cluster") comes on top.
 */
const RECOVER_WITHIN_MS = 45_000;

let cluster: KafkaClusterHandle;
beforeAll(async () => {
  cluster = await startKafkaCluster({ brokers: 3 });
}, 240_000);
afterAll(() => cluster?.stop());

// A case kills a broker for good; the next one gets it back (same ports, same data) with all three
// registered again, so that its fresh topic can have three replicas.
const killed: KafkaClusterBrokerHandle[] = [];
afterEach(() => cluster.revive(killed.splice(0)), 90_000);

/** Results for docs/guarantees.md, printed at the end of the run. */
const report: string[] = [];
afterAll(() => {
  if (report.length) process.stdout.write(`\nkafka failover results\n${report.join('\n')}\n`);
});

const cases = [
  { label: 'kafka 3 brokers RF3 --durable', flags: ['--durable'], prefix: 'k1:' },
  { label: 'kafka 3 brokers RF3', flags: [], prefix: 'k2:' },
];

describe('kafka failover', () => {
  for (const c of cases) {
    it(`failover ${c.label} - partition leader SIGKILLed for good under a group stream: links back up, every loss reported${c.flags.includes('--durable') ? ', none lost' : ''}`, async () => {
      // The CLI's topic: `${prefix}chat` with characters outside [a-zA-Z0-9._-] as '-'.
      const topic = `${c.prefix}chat`.replace(/[^a-zA-Z0-9._-]/g, '-');
      const result = await runStreamScenario({
        serveArgs: ['--driver', 'kafka', '--url', cluster.bootstrap, '--prefix', c.prefix, ...c.flags],
        group: true,
        loadBeforeMs: LOAD_BEFORE_MS,
        recoverWithinMs: RECOVER_WITHIN_MS,
        fault: async () => {
          const leader = await waitFor(() => cluster.leaderOf(topic, 0), { name: 'the partition leader' });
          killed.push(leader);
          await leader.kill();
        },
      });
      const replicas = await cluster.withAdmin(async (admin) => {
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
        return topics[0]!.partitions[0]!.replicas.length;
      });
      expect(replicas).toBe(3);
      if (c.flags.includes('--durable')) expect(result.lost, warnings(result.b)).toBe(0);
      report.push(reportRow(c.label, 'SIGKILL partition leader', result));
    }, 240_000);
  }
});
