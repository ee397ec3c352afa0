import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { waitFor } from '../wait-for.js';
import { freePort } from './free-port.js';
import { ManagedProcess, requireBinary } from './managed-process.js';

const run = promisify(execFile);
/** `kafka/` in this package: the pom, the fetch script and the log config. */
const KAFKA_DIR = fileURLToPath(new URL('../kafka/', import.meta.url));

/** A real single-node Apache Kafka broker (KRaft, broker + controller) on random ports. */
export interface KafkaBrokerHandle {
  readonly port: number;
  /** `127.0.0.1:port`, for `brokers`. */
  readonly bootstrap: string;
  stop(): Promise<void>;
  kill(): Promise<void>;
  freeze(): void;
  thaw(): void;
  /** Starts again on the same ports with the same data (after `kill()`). */
  restart(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The broker's jars, fetched with Maven on first use and cached (see `kafka/fetch.sh`). */
export async function kafkaJars(): Promise<string> {
  requireBinary('java', 'apt-get install openjdk-17-jre-headless');
  const { stdout } = await run('bash', [join(KAFKA_DIR, 'fetch.sh')], { maxBuffer: 1 << 20 });
  return stdout.trim().split('\n').at(-1)!;
}

export async function startKafka(options: { startTimeoutMs?: number } = {}): Promise<KafkaBrokerHandle> {
  const jars = await kafkaJars();
  const [port, controllerPort] = [await freePort(), await freePort()];
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
  const clusterId = randomBytes(16).toString('base64url');
  await run('java', [...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', config], {
    maxBuffer: 1 << 22,
  });

  let proc = new ManagedProcess('java', [...jvm, 'kafka.Kafka', config]);
  const launch = async () => {
    proc = new ManagedProcess('java', [...jvm, 'kafka.Kafka', config]);
    proc.start();
    let exited = false;
    void proc.exited().then(() => {
      exited = true;
    });
    await waitFor(
      async () => {
        if (exited) throw new Error(`Kafka exited early:\n${proc.output}`);
        return portOpen(port);
      },
      { timeoutMs: options.startTimeoutMs ?? 60_000, intervalMs: 100, name: `Kafka broker on port ${port}` },
    ).catch(async (error: unknown) => {
      await proc.kill();
      throw error;
    });
  };
  await launch();
  const stop = async () => {
    await proc.stop(10_000);
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    port,
    bootstrap: `127.0.0.1:${port}`,
    stop,
    kill: () => proc.kill(),
    freeze: () => proc.freeze(),
    thaw: () => proc.thaw(),
    restart: async () => {
      await proc.kill();
      await launch();
    },
    [Symbol.asyncDispose]: stop,
  };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
