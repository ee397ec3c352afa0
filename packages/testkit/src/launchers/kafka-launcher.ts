import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePorts } from './free-port.js';
import { requireBinary } from './managed-process.js';
import { type ServerProcessHandle, startServerProcess, tcpProbe } from './server-process.js';

const run = promisify(execFile);
/**
 * `kafka/` in this package: the pom, the fetch script and the log config. Found by walking up from this
 * module, which sits in `dist/` when bundled and in `src/launchers/` when tests import the source.
 */
export const KAFKA_DIR = ((): string => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'kafka', 'fetch.sh'))) return join(dir, 'kafka');
    if (dirname(dir) === dir) throw new Error('kafka/fetch.sh not found above the testkit module');
  }
})();

/** A real single-node Apache Kafka broker (KRaft, broker + controller) on random ports. */
export interface KafkaBrokerHandle extends ServerProcessHandle {
  readonly port: number;
  /** `127.0.0.1:port`, for `brokers`. */
  readonly bootstrap: string;
}

/** Options of `startKafka`. */
export interface StartKafkaOptions {
  /**
   * Apache Kafka version (Maven Central `org.apache.kafka:kafka_2.13`), also read from
   * `BACKPLANE_KAFKA_VERSION`. @default `<kafka.version>` of `kafka/pom.xml` (4.1.1)
   */
  version?: string;
  /** @default 60_000 ms */
  startTimeoutMs?: number;
}

/**
 * The broker's jars, fetched with Maven on first use and cached in `~/.cache/backplane/kafka-<version>`
 * (`$BACKPLANE_CACHE` moves it); see `kafka/fetch.sh`. Returns the jar directory.
 */
export async function kafkaJars(version?: string): Promise<string> {
  requireBinary('java', 'apt-get install openjdk-17-jre-headless');
  const { stdout } = await run('bash', [join(KAFKA_DIR, 'fetch.sh'), ...(version ? [version] : [])], {
    maxBuffer: 1 << 20,
  }).catch((error: { stderr?: string }) => {
    throw new Error(`Fetching the Kafka jars failed: ${error.stderr?.trim() || String(error)}`, {
      cause: error,
    });
  });
  return stdout.trim().split('\n').at(-1)!;
}

/**
 * A KRaft cluster id: 16 random bytes, base64url, not starting with `-` (the storage tool would read it as an
 * option; Kafka's own `Uuid.randomUuid()` skips those too).
 */
export function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * Starts a single-node Kafka (KRaft, combined broker + controller, static quorum) on two random free ports,
 * with its data in a temp dir; ready once the broker port accepts connections.
 */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBrokerHandle> {
  const jars = await kafkaJars(options.version);
  const [port, controllerPort] = (await freePorts(2)) as [number, number];
  const dir = mkdtempSync(join(tmpdir(), 'backplane-kafka-'));
  const config = join(dir, 'server.properties');
  writeFileSync(
    config,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${join(dir, 'data')}`,
      'num.partitions=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      // After a SIGKILL the restarted broker cannot register until the old registration's session expires
      // (9 s by default): a short session makes kill + restart take a few seconds instead of ~14.
      'broker.heartbeat.interval.ms=500',
      'broker.session.timeout.ms=3000',
      'auto.create.topics.enable=false',
    ].join('\n'),
  );
  const classpath = `${jars}/*`;
  const jvm = [
    '-Xms256m',
    '-Xmx512m',
    `-Dlog4j.configuration=file:${join(KAFKA_DIR, 'log4j.properties')}`,
    '-cp',
    classpath,
  ];
  await run('java', [...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', config], {
    maxBuffer: 1 << 22,
  });

  const server = await startServerProcess({
    command: 'java',
    args: [...jvm, 'kafka.Kafka', config],
    name: `Kafka broker on port ${port}`,
    ready: () => tcpProbe(port),
    startTimeoutMs: options.startTimeoutMs ?? 60_000,
    stopGraceMs: 10_000,
    dir,
  });
  return { ...server, port, bootstrap: `127.0.0.1:${port}` };
}
