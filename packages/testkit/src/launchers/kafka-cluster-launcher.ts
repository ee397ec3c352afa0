import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { waitFor } from '../wait-for.js';
import { freePorts } from './free-port.js';
import { clusterId, KAFKA_DIR, type KafkaBrokerHandle, kafkaJars } from './kafka-launcher.js';
import { startServerProcess, tcpProbe } from './server-process.js';
import { TopologyError } from './topology-error.js';

const run = promisify(execFile);

/** One node of a Kafka cluster (broker and KRaft controller in one process). */
export interface KafkaClusterBrokerHandle extends KafkaBrokerHandle {
  /** Its `node.id`, which metadata names leaders by. */
  readonly nodeId: number;
  /** Its KRaft controller listener. */
  readonly controllerPort: number;
}

/** Options of `startKafkaCluster`. */
export interface StartKafkaClusterOptions {
  /** Nodes, each broker and controller (a static voter set); 3 tolerates one dead node. @default 3 */
  brokers?: number;
  /**
   * Apache Kafka version (Maven Central `org.apache.kafka:kafka_2.13`), also read from
   * `BACKPLANE_KAFKA_VERSION`. @default `<kafka.version>` of `kafka/pom.xml` (4.1.1)
   */
  version?: string;
  /** JVM options of each node, e.g. the heap. @default ['-Xms128m', '-Xmx384m'] */
  jvmOptions?: readonly string[];
  /** Time for every node to accept connections and the cluster to report all brokers, in ms. @default 180_000 */
  startTimeoutMs?: number;
}

/** A real multi-node Kafka (KRaft, combined mode) on random ports, replicated by default. */
export interface KafkaClusterHandle {
  readonly brokers: readonly KafkaClusterBrokerHandle[];
  /** `127.0.0.1:a,127.0.0.1:b,...` */
  readonly bootstrap: string;
  /**
   * The broker leading `topic`'s `partition` per fresh cluster metadata, when it accepts connections;
   * undefined while there is no leader or the named one is dead (a killed broker stays leader until its
   * session times out, 3 s). Throws for an unknown topic.
   */
  leaderOf(topic: string, partition: number): Promise<KafkaClusterBrokerHandle | undefined>;
  /** Runs `use` with a connected kafkajs admin client (disconnected afterwards), e.g. to create topics. */
  withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T>;
  /**
   * Brings killed `brokers` back (same ports, same data) and waits until the cluster metadata lists every
   * broker again, so a fresh topic can be fully replicated. @param timeoutMs @default 60_000
   */
  revive(brokers: readonly KafkaClusterBrokerHandle[], timeoutMs?: number): Promise<void>;
  /** Kills every node (SIGKILL: the data is thrown away) and removes their data dirs. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts `brokers` Kafka nodes in combined mode (`process.roles=broker,controller`, a static
 * `controller.quorum.voters`), each formatted with the same cluster id in its own temp dir, all at once (the
 * quorum needs a majority to come up). Topics replicate to 3 nodes with `min.insync.replicas=2` (capped at
 * `brokers`); no unclean leader election, no auto-created topics. Ready once every broker port accepts
 * connections and the cluster metadata lists every broker.
 */
export async function startKafkaCluster(options: StartKafkaClusterOptions = {}): Promise<KafkaClusterHandle> {
  const jars = await kafkaJars(options.version);
  const size = options.brokers ?? 3;
  const replication = Math.min(3, size);
  const minIsr = Math.max(1, replication - 1);
  const startTimeoutMs = options.startTimeoutMs ?? 180_000;

  const ports = await freePorts(2 * size);
  const plan = ports.slice(0, size).map((port, i) => ({
    nodeId: i + 1,
    port,
    controllerPort: ports[size + i]!,
    dir: mkdtempSync(join(tmpdir(), 'backplane-kafka-')),
  }));
  const voters = plan.map((n) => `${n.nodeId}@127.0.0.1:${n.controllerPort}`).join(',');
  const jvm = [
    ...(options.jvmOptions ?? ['-Xms128m', '-Xmx384m']),
    `-Dlog4j.configuration=file:${join(KAFKA_DIR, 'log4j.properties')}`,
    '-cp',
    `${jars}/*`,
  ];
  const id = clusterId();
  const configs = plan.map((node) => {
    const config = join(node.dir, 'server.properties');
    writeFileSync(
      config,
      [
        'process.roles=broker,controller',
        `node.id=${node.nodeId}`,
        `controller.quorum.voters=${voters}`,
        `listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        `log.dirs=${join(node.dir, 'data')}`,
        'num.partitions=1',
        `default.replication.factor=${replication}`,
        `min.insync.replicas=${minIsr}`,
        `offsets.topic.replication.factor=${replication}`,
        'offsets.topic.num.partitions=1',
        `transaction.state.log.replication.factor=${replication}`,
        `transaction.state.log.min.isr=${minIsr}`,
        'group.initial.rebalance.delay.ms=0',
        // A killed broker is fenced (and its partitions' leadership moves) once its session expires: 3 s
        // instead of 9 s.
        'broker.heartbeat.interval.ms=500',
        'broker.session.timeout.ms=3000',
        'auto.create.topics.enable=false',
        'unclean.leader.election.enable=false',
      ].join('\n'),
    );
    return config;
  });

  const brokers: KafkaClusterBrokerHandle[] = [];
  // SIGKILL first: SIGTERMed together, the last nodes wait for a controller quorum that is gone (the grace
  // period, every time), and the data is thrown away anyway.
  const stop = async () => {
    await Promise.all(brokers.map((b) => b.kill()));
    await Promise.all(brokers.map((b) => b.stop()));
    for (const node of plan) rmSync(node.dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(
      configs.map((config) =>
        run('java', [...jvm, 'kafka.tools.StorageTool', 'format', '-t', id, '-c', config], {
          maxBuffer: 1 << 22,
        }),
      ),
    );
    const started = await Promise.allSettled(
      plan.map(async (node, i) => {
        const server = await startServerProcess({
          command: 'java',
          args: [...jvm, 'kafka.Kafka', configs[i]!],
          name: `Kafka node ${node.nodeId} on port ${node.port}`,
          ready: () => tcpProbe(node.port),
          startTimeoutMs,
          stopGraceMs: 5_000,
          dir: node.dir,
        });
        brokers.push({ ...server, ...node, bootstrap: `127.0.0.1:${node.port}` });
      }),
    );
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    brokers.sort((a, b) => a.nodeId - b.nodeId);
  } catch (error) {
    await stop();
    throw error;
  }

  const bootstrap = plan.map((n) => `127.0.0.1:${n.port}`).join(',');
  const withAdmin = async <T>(use: (admin: Admin) => Promise<T>): Promise<T> => {
    const admin = new Kafka({
      clientId: 'backplane-testkit',
      brokers: bootstrap.split(','),
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1_000,
      retry: { retries: 2, initialRetryTime: 100 },
    }).admin();
    await admin.connect();
    try {
      return await use(admin);
    } finally {
      await admin.disconnect();
    }
  };
  const allRegistered = (timeoutMs: number) =>
    waitFor(async () => (await withAdmin((admin) => admin.describeCluster())).brokers.length === size, {
      timeoutMs,
      intervalMs: 250,
      name: `${size} Kafka brokers in the cluster metadata`,
    });
  try {
    await allRegistered(startTimeoutMs);
  } catch (error) {
    await stop();
    throw new TopologyError('ERR_TOPOLOGY_NOT_READY', 'Kafka cluster did not become ready', { cause: error });
  }

  return {
    brokers,
    bootstrap,
    revive: async (dead, timeoutMs = 60_000) => {
      if (dead.length === 0) return;
      await Promise.all(dead.map((b) => b.restart()));
      await allRegistered(timeoutMs);
    },
    leaderOf: async (topic, partition) => {
      const metadata = await withAdmin((admin) => admin.fetchTopicMetadata({ topics: [topic] }));
      const leaderId = metadata.topics
        .find((t) => t.name === topic)
        ?.partitions.find((p) => p.partitionId === partition)?.leader;
      const leader = brokers.find((b) => b.nodeId === leaderId);
      return leader && (await tcpProbe(leader.port)) ? leader : undefined;
    },
    withAdmin,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
