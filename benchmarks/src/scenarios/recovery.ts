import { type BackplaneEvent, type Driver, HubLifetimeManager, type MessageHandler } from '@backplane/core';
import { KafkaDriver } from '@backplane/kafka';
import { NatsDriver } from '@backplane/nats';
import { RedisDriver } from '@backplane/redis';
import { startTcpProxy } from '@backplane/testkit';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { type Brokers, type DriverName, kafkaClientOf } from '../brokers.js';
import { connect, firstArgument, quietLogger } from '../cluster.js';
import { uniqueName } from '../drivers.js';
import type { Progress } from '../util/progress.js';
import { median } from '../util/stats.js';
import { Counter, pump } from '../util/wait.js';

export interface RecoveryOptions {
  drivers: readonly DriverName[];
  /** Messages published while the receiving server is cut off. */
  gap: number;
  rounds: number;
}

export interface RecoveryResult {
  readonly driver: DriverName;
  /** From the link coming back to the last missed message delivered, in ms (median over rounds). */
  readonly recoveryMs: number;
  /** Missed messages replayed per second. */
  readonly replayRate: number;
  readonly rounds: number[];
  /** How the gap was made, where it differs from the proxy cut. */
  readonly note?: string;
  /** Why the driver was not measured, or what went wrong. */
  readonly error?: string;
}

const TEXT = 'x'.repeat(100);

/**
 * Recovery: durable mode, a server cut off from the broker (a TCP proxy drops its connections and holds
 * new ones) while another publishes `gap` messages to a group it has a member of; then the link comes back.
 * Measured: from the release until the member got every missed message, replayed from the log in order.
 */
export async function runRecovery(
  brokers: Brokers,
  options: RecoveryOptions,
  progress: Progress,
): Promise<RecoveryResult[]> {
  const results: RecoveryResult[] = [];
  for (const driver of options.drivers) {
    progress.step(`recovery: ${driver}, a gap of ${options.gap.toLocaleString('en-US')} messages`);
    const factory = durableDriver(driver, brokers, options.gap);
    if (typeof factory === 'string') {
      progress.note(`${driver}: not measured: ${factory}`);
      results.push({ driver, recoveryMs: Number.NaN, replayRate: Number.NaN, rounds: [], error: factory });
      continue;
    }
    const rounds: number[] = [];
    try {
      for (let round = 0; round < options.rounds; round++) {
        progress.detail(`recovery: ${driver} round ${round + 1}/${options.rounds}`);
        rounds.push(await recoverOnce(factory, options.gap));
      }
      const recoveryMs = median(rounds);
      results.push({
        driver,
        recoveryMs,
        replayRate: (options.gap * 1000) / recoveryMs,
        rounds,
        ...(factory.swallow && { note: SWALLOW_NOTE }),
      });
      progress.note(
        `${driver}: ${options.gap} missed messages delivered ${recoveryMs.toFixed(0)} ms after ${factory.swallow ? 'the next live message' : 'the link came back'} (${Math.round((options.gap * 1000) / recoveryMs).toLocaleString('en-US')} msg/s)`,
      );
    } catch (error) {
      progress.note(`${driver}: failed: ${(error as Error).message}`);
      results.push({ driver, recoveryMs: Number.NaN, replayRate: Number.NaN, rounds, error: String(error) });
    }
  }
  return results;
}

/** Builds a durable driver of one kind, straight to the broker or through a proxy port. */
interface DurableFactory {
  /** The broker's port (what the proxy forwards to). */
  readonly brokerPort: number;
  make(port?: number): Driver;
  /**
   * The receiver cannot be cut off alone by a proxy (Kafka: clients reconnect to the address the broker
   * advertises): its live deliveries are swallowed instead, and the next live message reveals the gap.
   */
  readonly swallow?: boolean;
}

const SWALLOW_NOTE =
  "the receiver's live deliveries were swallowed (a proxy cannot cut one Kafka client off); timed from the next live message, which reveals the gap";

/** A durable driver of `driver`, or why there is none. */
function durableDriver(driver: DriverName, brokers: Brokers, gap: number): DurableFactory | string {
  switch (driver) {
    case 'redis':
      return {
        brokerPort: brokers.redis!.port,
        make: (port) =>
          new RedisDriver({
            url: port ? `redis://127.0.0.1:${port}` : brokers.redis!.url,
            durable: { maxLength: gap * 2 },
            reconnect: { initialDelay: 50, maxDelay: 200 },
          }),
      };
    case 'nats':
      return {
        brokerPort: brokers.nats!.port,
        make: (port) =>
          new NatsDriver({
            servers: port ? `nats://127.0.0.1:${port}` : brokers.nats!.url,
            durable: { maxLength: gap * 2 },
            options: { reconnectTimeWait: 50 },
          }),
      };
    case 'kafka':
    case 'kafka-platformatic':
    case 'kafka-kafkajs': {
      const topic = uniqueName('bench-rec-');
      const client = kafkaClientOf(driver);
      return {
        brokerPort: 0,
        swallow: true,
        make: () => new KafkaDriver({ brokers: [brokers.kafka!.bootstrap], topic, durable: true, client }),
      };
    }
    case 'memory':
      return 'the memory driver keeps no log';
  }
}

/** One cut-off / publish / release cycle; returns ms from release to the last missed message delivered. */
async function recoverOnce(factory: DurableFactory, gap: number): Promise<number> {
  const proxy = factory.swallow ? undefined : await startTcpProxy(factory.brokerPort);
  const receiving = swallowing(factory.make(proxy?.port));
  const prefix = uniqueName('bench-rec-');
  const common = {
    prefix: `${prefix}:`,
    logger: quietLogger,
    durable: true,
    liveness: { probeInterval: 100, probeTimeout: 200 },
  };
  const sender = new HubLifetimeManager({ ...common, driver: factory.make(), nodeId: 'sender' });
  const receiver = new HubLifetimeManager({ ...common, driver: receiving.driver, nodeId: 'receiver' });
  try {
    await Promise.all([sender.start(), receiver.start()]);
    const delivered = new Counter();
    let last = -1;
    let disorder = 0;
    const member = await connect(receiver, (frame) => {
      const i = firstArgument(frame);
      if (i !== last + 1) disorder++;
      last = i;
      delivered.add();
    });
    await sender.addToGroup(member.connectionId, 'g');
    await sender.sendGroup('g', 'm', [0, TEXT]);
    await delivered.until(1, 10_000, 'the first message');
    if (proxy) {
      const down = nextEvent(receiver, 'outage-started', 10_000);
      proxy.hold();
      proxy.cut();
      await down;
      await pump(gap, 500, (i) => sender.sendGroup('g', 'm', [i + 1, TEXT]));
      const started = performance.now();
      proxy.release();
      await delivered.until(gap + 1, 120_000, 'the missed messages');
      return exact(performance.now() - started, delivered.value, gap + 1, disorder);
    }
    receiving.swallow(true);
    await pump(gap, 500, (i) => sender.sendGroup('g', 'm', [i + 1, TEXT]));
    await receiving.swallowed.until(gap, 60_000, 'the messages to miss');
    receiving.swallow(false);
    const started = performance.now();
    await sender.sendGroup('g', 'm', [gap + 1, TEXT]);
    await delivered.until(gap + 2, 120_000, 'the missed messages');
    return exact(performance.now() - started, delivered.value, gap + 2, disorder);
  } finally {
    await Promise.allSettled([sender.close(), receiver.close()]);
    await proxy?.close();
  }
}

function exact(elapsed: number, delivered: number, expected: number, disorder: number): number {
  if (disorder > 0 || delivered !== expected)
    throw new Error(`replay was not exact: ${delivered} delivered, ${disorder} out of order`);
  return elapsed;
}

/** A driver whose live deliveries of group messages can be swallowed (what a receiver missed). */
function swallowing(driver: Driver) {
  let on = false;
  const swallowed = new Counter();
  const wrapped = new Proxy(driver, {
    get(target, property) {
      if (property === 'setMessageHandler')
        return (handler: MessageHandler) =>
          target.setMessageHandler((channel, payload, position) => {
            if (on && channel.includes('group')) swallowed.add();
            else handler(channel, payload, position);
          });
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    driver: wrapped,
    swallowed,
    swallow(value: boolean) {
      on = value;
    },
  };
}

function nextEvent<T extends BackplaneEvent['type']>(
  manager: HubLifetimeManager,
  type: T,
  timeoutMs: number,
): Promise<Extract<BackplaneEvent, { type: T }>> {
  return firstValueFrom(
    manager.events$.pipe(
      filter((e): e is Extract<BackplaneEvent, { type: T }> => e.type === type),
      timeout(timeoutMs),
    ),
  );
}
