import { HubLifetimeManager, type LocalConnection, type Logger } from '@backplane/core';
import { JsonHubProtocol } from '@backplane/hub-protocol';
import type { KafkaClient } from '@backplane/kafka';
import type { Brokers, DriverName } from './brokers.js';
import { createDrivers, uniqueName } from './drivers.js';

export const quietLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const json = new JsonHubProtocol();

/**
 * A connection held by a benchmark server: counts frames and, when asked, reads the number a
 * `sendAll('m', [n])` carried (the first argument of a JSON invocation), without a full parse.
 */
export class CountingConnection implements LocalConnection {
  readonly protocol = json;
  frames = 0;
  constructor(
    readonly connectionId: string,
    readonly onFrame?: (frame: Uint8Array) => void,
  ) {}
  write(frame: Uint8Array): void {
    this.frames++;
    this.onFrame?.(frame);
  }
}

/** The first number in `[n` of a JSON invocation frame: `{"type":1,"target":"m","arguments":[n]}`. */
export function firstArgument(frame: Uint8Array): number {
  let i = frame.indexOf(0x5b /* [ */) + 1;
  let n = 0;
  for (let c = frame[i]!; c >= 0x30 && c <= 0x39; c = frame[++i]!) n = n * 10 + (c - 0x30);
  return n;
}

export interface ClusterOptions {
  durable?: boolean;
  hub?: string;
  /** Kafka only: the client of server `i` (to count what it reads). */
  kafkaClient?: (i: number) => KafkaClient;
}

/** `count` lifetime managers on `driver`, each a separate "server" with its own broker connections. */
export async function startCluster(
  driver: DriverName,
  brokers: Brokers,
  count: number,
  options: ClusterOptions = {},
): Promise<HubLifetimeManager[]> {
  const prefix = uniqueName('bench-');
  const drivers = createDrivers(driver, brokers, count, `${prefix}topic`, options);
  const managers = drivers.map(
    (driver, i) =>
      new HubLifetimeManager({
        driver,
        prefix: `${prefix}:`,
        hub: options.hub ?? 'bench',
        nodeId: `s${i}`,
        logger: quietLogger,
        ...(options.durable && { durable: true }),
      }),
  );
  try {
    await Promise.all(managers.map((m) => m.start()));
  } catch (error) {
    await stopCluster(managers);
    throw error;
  }
  return managers;
}

export async function stopCluster(managers: readonly HubLifetimeManager[]): Promise<void> {
  await Promise.allSettled(managers.map((m) => m.close()));
}

/** Adds a counting connection to `manager`. */
export async function connect(
  manager: HubLifetimeManager,
  onFrame?: (frame: Uint8Array) => void,
): Promise<CountingConnection> {
  const connection = new CountingConnection(manager.createConnectionId(), onFrame);
  await manager.onConnected(connection);
  return connection;
}
