import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_KAFKA_CLIENT, type KafkaClientName } from '@backplane/kafka';
import {
  type KafkaBrokerHandle,
  type NatsServerHandle,
  type RedisServerHandle,
  startKafka,
  startNats,
  startRedis,
} from '@backplane/testkit';
import { childPids } from './util/cpu-time.js';

/**
 * The Kafka driver on each of its clients: `kafka` is the driver as it comes (its default client),
 * `kafka-<client>` names the client.
 */
export type KafkaVariant = 'kafka' | 'kafka-platformatic' | 'kafka-kafkajs';
export type BrokerDriver = 'redis' | 'nats' | KafkaVariant;
export type DriverName = 'memory' | BrokerDriver;
/** The Kafka client that `kafka` does not use: measured next to it by default. */
const OTHER_KAFKA_CLIENT: KafkaClientName = DEFAULT_KAFKA_CLIENT === 'kafkajs' ? 'platformatic' : 'kafkajs';
/** What runs by default: every driver, and the Kafka driver once more on its other client. */
export const DRIVERS: readonly DriverName[] = [
  'memory',
  'redis',
  'nats',
  'kafka',
  `kafka-${OTHER_KAFKA_CLIENT}`,
];
/** Every name `--drivers` takes. */
export const KNOWN_DRIVERS: readonly DriverName[] = [
  'memory',
  'redis',
  'nats',
  'kafka',
  'kafka-platformatic',
  'kafka-kafkajs',
];

export function isKafka(driver: DriverName): driver is KafkaVariant {
  return driver === 'kafka' || driver.startsWith('kafka-');
}

/** The client a Kafka variant runs on. */
export function kafkaClientOf(driver: KafkaVariant): KafkaClientName {
  return driver === 'kafka' ? DEFAULT_KAFKA_CLIENT : (driver.slice('kafka-'.length) as KafkaClientName);
}

/** The broker (and `backplane serve --driver`) a driver name stands for. */
export function brokerOf(driver: BrokerDriver): 'redis' | 'nats' | 'kafka' {
  return isKafka(driver) ? 'kafka' : driver;
}

/** The brokers one benchmark run uses: real servers on random ports, started by testkit's launchers. */
export interface Brokers {
  readonly redis?: RedisServerHandle;
  readonly nats?: NatsServerHandle;
  readonly kafka?: KafkaBrokerHandle;
  /** Each broker's own version string, for the report. */
  readonly versions: Record<string, string>;
  /** Each broker's process id, for its CPU time (absent where it could not be told apart). */
  readonly pids: Partial<Record<'redis' | 'nats' | 'kafka', number>>;
  stop(): Promise<void>;
}

/** Starts the brokers `drivers` need (Redis always: the socket.io peer uses it). */
export async function startBrokers(drivers: readonly DriverName[]): Promise<Brokers> {
  const versions: Record<string, string> = {};
  const pids: Partial<Record<'redis' | 'nats' | 'kafka', number>> = {};
  const started: Array<{ stop(): Promise<void> }> = [];
  /** Starts a broker and notes its pid: the one child of this process that was not there before. */
  const launch = async <T>(driver: 'redis' | 'nats' | 'kafka', start: () => Promise<T>): Promise<T> => {
    const before = childPids();
    const handle = await start();
    const added = [...childPids()].filter((pid) => !before.has(pid));
    if (added.length === 1) pids[driver] = added[0]!;
    return handle;
  };
  try {
    const redis = await launch('redis', () => startRedis());
    started.push(redis);
    versions.redis = firstMatch(execFileSync('redis-server', ['--version']).toString(), /v=(\S+)/);
    let nats: NatsServerHandle | undefined;
    if (drivers.includes('nats')) {
      nats = await launch('nats', () => startNats());
      started.push(nats);
      versions.nats = firstMatch(execFileSync('nats-server', ['--version']).toString(), /\bv(\d\S*)/);
    }
    let kafka: KafkaBrokerHandle | undefined;
    if (drivers.some(isKafka)) {
      kafka = await launch('kafka', () => startKafka());
      started.push(kafka);
      versions.kafka = process.env.BACKPLANE_KAFKA_VERSION ?? defaultKafkaVersion();
    }
    return {
      redis,
      ...(nats && { nats }),
      ...(kafka && { kafka }),
      versions,
      pids,
      stop: async () => {
        await Promise.allSettled(started.map((s) => s.stop()));
      },
    };
  } catch (error) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw error;
  }
}

function firstMatch(text: string, pattern: RegExp): string {
  return pattern.exec(text)?.[1] ?? text.trim();
}

/** The URL `backplane serve --url` takes for `driver` (a Kafka variant names its client). */
export function brokerUrl(brokers: Brokers, driver: BrokerDriver): string {
  if (isKafka(driver)) return `kafka://${brokers.kafka!.bootstrap}?client=${kafkaClientOf(driver)}`;
  return driver === 'redis' ? brokers.redis!.url : brokers.nats!.url;
}

/** The Kafka version testkit's launcher starts by default (`<kafka.version>` of its pom). */
function defaultKafkaVersion(): string {
  const entry = fileURLToPath(import.meta.resolve('@backplane/testkit')); // …/testkit/dist/index.js
  const pom = readFileSync(join(dirname(entry), '..', 'kafka', 'pom.xml'), 'utf8');
  return firstMatch(pom, /<kafka\.version>([^<]+)</);
}
