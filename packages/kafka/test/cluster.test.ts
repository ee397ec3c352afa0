import { BrokerError, HubLifetimeManager } from '@backplane/core';
import { MessageType } from '@backplane/hub-protocol';
import {
  type KafkaClusterBrokerHandle,
  type KafkaClusterHandle,
  startKafkaCluster,
  TestClient,
  tallyStream,
  waitFor,
} from '@backplane/testkit';
import { ConfigResourceTypes } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type KafkaClientName, KafkaDriver } from '../src/index.js';
import { CLIENTS } from './clients.js';

/** One message every this many ms from the sender, in ms. */
const SEND_EVERY_MS = 20;
/** Steady load before the kill (plus up to 1 s at random), and after recovery, in ms. */
const LOAD_BEFORE_MS = 1_500;
const LOAD_AFTER_MS = 2_000;
/**
 * How long the link may take to be up again after the partition leader is SIGKILLed, in ms: the
 * cluster fences the dead broker after its session (3 s here) and elects a new leader; the driver's bound
 * (README, "Cluster") comes on top.
 */
const RECOVER_WITHIN_MS = 30_000;

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

let cluster: KafkaClusterHandle;
beforeAll(async () => {
  cluster = await startKafkaCluster({ brokers: 3 });
}, 240_000);
afterAll(() => cluster?.stop());
// A case kills a broker for good; the next case gets it back (same ports, same data) with every broker
// registered again, so its fresh topic can have three replicas.
const killed: KafkaClusterBrokerHandle[] = [];
afterEach(() => cluster.revive(killed.splice(0)), 90_000);

let topics = 0;
const freshTopic = () => `cluster-${Date.now()}-${topics++}`;

/** The topic's replica count and its own (topic-level) `min.insync.replicas`, if set. */
async function topicSettings(topic: string) {
  return cluster.withAdmin(async (admin) => {
    const { topics: meta } = await admin.fetchTopicMetadata({ topics: [topic] });
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['min.insync.replicas'] }],
    });
    const entry = resources[0]?.configEntries.find((e) => e.configName === 'min.insync.replicas');
    return {
      replicas: meta[0]!.partitions[0]!.replicas.length,
      minInsync: entry && !entry.isDefault && entry.configSource === 1 ? entry.configValue : undefined,
    };
  });
}

/** Two servers on the cluster, a group member on the receiver, a numbered stream from the sender. */
async function stream(topic: string, durable: boolean, kafkaClient: KafkaClientName) {
  const options = { logger: quiet, prefix: `${topic}:`, durable };
  const driver = () =>
    new KafkaDriver({ brokers: cluster.bootstrap.split(','), topic, durable, client: kafkaClient });
  const sender = new HubLifetimeManager({ ...options, driver: driver() });
  const receiver = new HubLifetimeManager({ ...options, driver: driver() });
  await Promise.all([sender.start(), receiver.start()]);
  const client = new TestClient({ connectionId: receiver.createConnectionId() });
  await receiver.onConnected(client);
  await receiver.addToGroup(client.connectionId, 'g');

  const received: number[] = [];
  const drain = () => {
    for (let m = client.tryRead(); m; m = client.tryRead())
      if (m.type === MessageType.Invocation) received.push(Number(m.arguments[0]));
  };
  let sent = 0;
  let sending = true;
  const load = (async () => {
    while (sending) {
      await sender.sendGroup('g', 'Hello', [String(sent++)]);
      await new Promise((resolve) => setTimeout(resolve, SEND_EVERY_MS));
    }
  })();
  const stopLoad = async () => {
    sending = false;
    await load;
  };
  const stop = async () => {
    await stopLoad();
    await Promise.allSettled([sender.close(), receiver.close()]);
  };
  return {
    sender,
    receiver,
    received: () => {
      drain();
      return received;
    },
    sent: () => sent,
    stopLoad,
    stop,
  };
}

/**
 * Steady stream, SIGKILL of the topic's partition leader for good at a random point, then: both links up
 * again, messages sent after that arrive, the load goes on, the last one arrives.
 */
async function killLeaderUnderLoad(durable: boolean, client: KafkaClientName) {
  const topic = freshTopic();
  const s = await stream(topic, durable, client);
  try {
    await waitFor(() => s.received().length > 10, { name: 'traffic before the kill' });
    await new Promise((resolve) => setTimeout(resolve, LOAD_BEFORE_MS + Math.random() * 1_000));
    const leader = await waitFor(() => cluster.leaderOf(topic, 0), { name: 'the partition leader' });
    const killedAt = Date.now();
    killed.push(leader);
    await leader.kill();
    let detectedMs: number | undefined;
    await waitFor(
      () => {
        if (detectedMs === undefined && !s.sender.link.up) detectedMs = Date.now() - killedAt;
        // Past the broker's session (3 s): a link never seen down must not count as recovered at once.
        return Date.now() - killedAt > 3_000 && s.sender.link.up && s.receiver.link.up;
      },
      { name: 'both links up again', timeoutMs: RECOVER_WITHIN_MS },
    ).catch((error: Error) => {
      throw new Error(
        `${error.message} (sender: ${JSON.stringify(s.sender.link)}, receiver: ${JSON.stringify(s.receiver.link)})`,
        { cause: error },
      );
    });
    const probe = s.sent();
    await waitFor(() => s.received().some((n) => n >= probe), {
      name: 'messages flowing after the kill',
      timeoutMs: RECOVER_WITHIN_MS,
    });
    const recoveredMs = Date.now() - killedAt;
    await new Promise((resolve) => setTimeout(resolve, LOAD_AFTER_MS));
    await s.stopLoad();
    const last = s.sent() - 1;
    await waitFor(() => s.received().includes(last), {
      name: 'the last message',
      timeoutMs: RECOVER_WITHIN_MS,
    });
    const report = {
      ...tallyStream(s.sent(), s.received()),
      gaps: s.receiver.stats.gaps,
      dropped: s.sender.stats.dropped,
      replayed: s.receiver.stats.replayed,
      detectedMs,
      recoveredMs,
    };
    console.info(
      `kafka cluster (${client}) ${durable ? 'durable' : 'outbox'}, leader SIGKILL:`,
      JSON.stringify(report),
    );
    return report;
  } finally {
    await s.stop();
  }
}

for (const client of CLIENTS) {
  describe(`kafka cluster (${client})`, () => {
    it('kafka cluster - a durable topic gets replication factor 3 and min.insync.replicas 2 from the cluster size', async () => {
      const topic = freshTopic();
      // `brokers` as one comma-separated string, as `backplane serve --url` passes it
      const t = new KafkaDriver({ brokers: cluster.bootstrap, topic, durable: true, client });
      try {
        await t.connect();
        expect(await topicSettings(topic)).toEqual({ replicas: 3, minInsync: '2' });
      } finally {
        await t.close();
      }
    }, 60_000);

    it('kafka cluster - replicationFactor overrides the automatic one (min.insync.replicas follows)', async () => {
      const topic = freshTopic();
      const t = new KafkaDriver({
        brokers: cluster.bootstrap,
        topic,
        durable: true,
        replicationFactor: 2,
        client,
      });
      try {
        await t.connect();
        expect(await topicSettings(topic)).toEqual({ replicas: 2, minInsync: '1' });
      } finally {
        await t.close();
      }
    }, 60_000);

    it('kafka cluster - durable: an existing topic with fewer replicas than wanted is refused at connect, naming both', async () => {
      const topic = freshTopic();
      await cluster.withAdmin((admin) =>
        admin.createTopics({
          waitForLeaders: true,
          topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
        }),
      );
      const t = new KafkaDriver({ brokers: cluster.bootstrap, topic, durable: true, client });
      try {
        const refused = await t.connect().then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(refused).toBeInstanceOf(BrokerError);
        expect((refused as Error).message).toMatch(/has 1 replica\(s\).*fewer than the 3 wanted/);
      } finally {
        await t.close();
      }
      // Accepted as it is once asked for explicitly.
      const accepting = new KafkaDriver({
        brokers: cluster.bootstrap,
        topic,
        durable: true,
        replicationFactor: 1,
        client,
      });
      try {
        await accepting.connect();
      } finally {
        await accepting.close();
      }
    }, 60_000);

    it('kafka cluster - durable, partition leader SIGKILLed for good: link back up, 0 lost, 0 duplicated, 0 reordered', async () => {
      const r = await killLeaderUnderLoad(true, client);
      expect(r).toMatchObject({ lost: 0, duplicated: 0, reordered: 0 });
    }, 120_000);

    it('kafka cluster - outbox mode, partition leader SIGKILLed for good: link back up, every loss reported', async () => {
      const r = await killLeaderUnderLoad(false, client);
      expect(r.duplicated).toBe(0);
      expect(r.reordered).toBe(0);
      expect(r.gaps + r.dropped, JSON.stringify(r.missing)).toBeGreaterThanOrEqual(r.lostAfterFirst);
    }, 120_000);
  });
}
