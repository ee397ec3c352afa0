import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BrokerError,
  type Driver,
  DriverBase,
  type DriverCapabilities,
  type DurableDriver,
  HubLifetimeManager,
  type HubLifetimeManagerOptions,
  LOG_START,
  type LogEntry,
} from '@backplane/core';
import { MemoryDriver } from '@backplane/memory';
import { type HubClass, HubServer, type HubServerOptions } from '@backplane/signalr';
import * as signalR from '@microsoft/signalr';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import { Registry } from 'prom-client';
import { type BackplaneMetrics, registerBackplaneMetrics } from '../src/index.js';

export const quiet = { debug() {}, info() {}, warn() {}, error() {} };
/** How long a test waits for an expected event, in ms. */
export const WAIT_MS = 5_000;

/** One hub server with its lifetime manager and a registry holding their metrics. */
export interface Node {
  readonly url: string;
  readonly manager: HubLifetimeManager;
  readonly hubs: HubServer;
  readonly registry: Registry;
  readonly metrics: BackplaneMetrics;
  close(): Promise<void>;
}

export interface NodeOptions {
  readonly nodeId: string;
  readonly driver: Driver;
  /** Hub classes by path. */
  readonly hubs: Readonly<Record<string, HubClass>>;
  readonly manager?: Partial<HubLifetimeManagerOptions>;
  readonly server?: HubServerOptions;
}

export async function startNode(options: NodeOptions): Promise<Node> {
  const manager = new HubLifetimeManager({
    driver: options.driver,
    nodeId: options.nodeId,
    hub: 'metrics',
    logger: quiet,
    ...options.manager,
  });
  await manager.start();
  const hubs = new HubServer({
    tokenSecret: 'metrics-test-secret',
    userIdQueryParameter: 'user',
    logger: quiet,
    ...options.server,
  });
  for (const [path, hubClass] of Object.entries(options.hubs)) hubs.mapHub(path, hubClass, manager);
  const server: Server = createServer();
  hubs.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const registry = new Registry();
  const metrics = registerBackplaneMetrics(registry, { manager, hubServer: hubs });
  return {
    url: `http://127.0.0.1:${port}`,
    manager,
    hubs,
    registry,
    metrics,
    async close() {
      metrics.unregister();
      await hubs.close(1_000);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await manager.close();
    },
  };
}

export type TransportName = 'WebSockets' | 'ServerSentEvents' | 'LongPolling';

/** An official @microsoft/signalr client, started. */
export async function connect(
  url: string,
  transport: TransportName,
  protocol: 'json' | 'messagepack',
  user?: string,
  statefulReconnect = false,
): Promise<signalR.HubConnection> {
  let builder = new signalR.HubConnectionBuilder()
    .withUrl(user ? `${url}?user=${encodeURIComponent(user)}` : url, {
      transport: signalR.HttpTransportType[transport],
    })
    .configureLogging(signalR.LogLevel.None);
  if (protocol === 'messagepack') builder = builder.withHubProtocol(new MessagePackHubProtocol());
  if (statefulReconnect) builder = builder.withStatefulReconnect();
  const connection = builder.build();
  await connection.start();
  return connection;
}

/** Resolves with the arguments of the next call of `method` on the client. */
export function nextCall(connection: signalR.HubConnection, method: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      connection.off(method, handler);
      reject(new Error(`no ${method} within ${WAIT_MS} ms`));
    }, WAIT_MS);
    const handler = (...args: unknown[]): void => {
      clearTimeout(timer);
      connection.off(method, handler);
      resolve(args);
    };
    connection.on(method, handler);
  });
}

/** One series of a scrape. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Scrapes `registry` as Prometheus would (its text format) and parses every series. */
export async function scrape(registry: Registry): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (const line of (await registry.metrics()).split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum of the series named `name` whose labels include `labels`; `undefined` when there is none. */
export function seriesValue(
  samples: readonly Sample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  const matching = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  );
  return matching.length === 0 ? undefined : matching.reduce((sum, s) => sum + s.value, 0);
}

/** Scrapes `registry` and reads one value (0 when the series does not exist). */
export async function read(
  registry: Registry,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<number> {
  return seriesValue(await scrape(registry), name, labels) ?? 0;
}

/** A memory driver whose link the test can cut (publishes fail, state `disconnected`) and restore. */
export class SwitchableDriver extends MemoryDriver {
  #down = false;

  cut(): void {
    this.#down = true;
    this.setState({ type: 'disconnected', error: new BrokerError('cut by the test') });
  }

  restore(): void {
    this.#down = false;
    this.setState({ type: 'connected' });
  }

  protected override doPublish(channel: string, payload: Uint8Array): Promise<number> {
    return this.#down
      ? Promise.reject(new BrokerError('cut by the test'))
      : super.doPublish(channel, payload);
  }
}

/** The logs and the subscribers of {@link LogDriver}s that see each other. */
export class LogBus {
  readonly logs = new Map<string, Uint8Array[]>();
  readonly drivers = new Set<LogDriver>();
}

/**
 * A durable in-process driver for these tests: a log per channel, durable publishes appended and
 * delivered with their position, and a switch that makes one server deaf to live messages (it misses
 * what the log kept, as during an outage). It cannot count receivers, so managers on it announce
 * themselves on the presence channel.
 */
export class LogDriver extends DriverBase implements DurableDriver {
  readonly name = 'log';
  readonly capabilities: DriverCapabilities = {
    receiverCount: false,
    durable: true,
    perChannelSubscriptions: true,
    sharded: false,
  };
  /** While true, live messages do not reach this driver's manager. */
  deaf = false;
  readonly #bus: LogBus;

  constructor(bus: LogBus) {
    super();
    this.#bus = bus;
    bus.drivers.add(this);
  }

  publishDurable(channel: string, payload: Uint8Array): Promise<undefined> {
    const log = this.#log(channel);
    log.push(payload);
    this.#deliver(channel, payload, position(log.length));
    return Promise.resolve(undefined);
  }

  async readLog(
    channel: string,
    after: string,
    limit: number,
  ): Promise<{ entries: LogEntry[]; complete: boolean }> {
    const from = Number(after.split('-')[0]);
    const entries = this.#log(channel)
      .slice(from, from + limit)
      .map((payload, i) => ({ position: position(from + i + 1), payload }));
    return { entries, complete: true };
  }

  async logPosition(channel: string): Promise<string> {
    const length = this.#log(channel).length;
    return length === 0 ? LOG_START : position(length);
  }

  protected async doConnect(): Promise<void> {
    this.setState({ type: 'connected' });
  }

  protected async doClose(): Promise<void> {
    this.#bus.drivers.delete(this);
  }

  protected async doPublish(channel: string, payload: Uint8Array): Promise<undefined> {
    this.#deliver(channel, payload, undefined);
    return undefined;
  }

  protected async doSubscribe(): Promise<void> {}
  protected async doUnsubscribe(): Promise<void> {}

  #log(channel: string): Uint8Array[] {
    const log = this.#bus.logs.get(channel) ?? [];
    this.#bus.logs.set(channel, log);
    return log;
  }

  #deliver(channel: string, payload: Uint8Array, at: string | undefined): void {
    // Who hears it is decided now: a deaf driver misses it even if it hears again before delivery.
    const hearing = [...this.#bus.drivers].filter((driver) => !driver.deaf);
    setImmediate(() => {
      for (const driver of hearing) driver.onMessage(channel, payload, at);
    });
  }
}

function position(n: number): string {
  return `${n}-0`;
}
