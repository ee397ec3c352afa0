import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HubLifetimeManager } from '@backplane/core';
import type { KafkaClient, KafkaClientName } from '@backplane/kafka';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { io as ioClient, type Socket } from 'socket.io-client';
import { type Brokers, type DriverName, isKafka, kafkaClientOf } from '../brokers.js';
import { connect, startCluster, stopCluster } from '../cluster.js';
import { kafkaClient } from '../drivers.js';
import type { Progress } from '../util/progress.js';
import { Counter, pump } from '../util/wait.js';

export interface GroupScalingOptions {
  drivers: readonly DriverName[];
  servers: number;
  /** Group members, all on the last server. */
  members: number;
  messages: number;
}

export interface GroupScalingResult {
  readonly contender: DriverName | 'socket.io';
  /** Messages each server received from the broker while the group got `messages` (index = server). */
  readonly receivedPerServer: number[];
  /** Broker messages received by the whole cluster per message sent (1 = only the member's server). */
  readonly receivedPerMessage: number;
  readonly error?: string;
}

const TEXT = 'x'.repeat(100);
/** How long counts must stay still to call the readers done, in ms. */
const QUIET_MS = 300;

/**
 * Group scaling: 8 servers; a group whose members all sit on the last server; the first server sends to it.
 * Work done per server = messages it had to take from the broker. Per-channel subscriptions (Redis, NATS,
 * memory) keep the others idle; Kafka filters on the receiver (every server reads the topic); socket.io's
 * Redis adapter publishes every room broadcast on one channel that every node reads.
 */
export async function runGroupScaling(
  brokers: Brokers,
  options: GroupScalingOptions,
  progress: Progress,
): Promise<GroupScalingResult[]> {
  progress.step(
    `group scaling: ${options.servers} servers, members on 1, ${[...options.drivers, 'socket.io'].join(', ')}`,
  );
  const results: GroupScalingResult[] = [];
  for (const driver of options.drivers) {
    progress.detail(`group scaling: ${driver}`);
    let managers: HubLifetimeManager[] = [];
    const kafkaCounts = new Array<number>(options.servers).fill(0);
    try {
      managers = await startCluster(driver, brokers, options.servers, {
        ...(isKafka(driver) && {
          kafkaClient: (i: number) =>
            countingKafkaClient(kafkaClientOf(driver), brokers.kafka!.bootstrap, () => kafkaCounts[i]!++),
        }),
      });
      const counter = new Counter();
      const target = managers[options.servers - 1]!;
      for (let m = 0; m < options.members; m++) {
        const connection = await connect(target, () => counter.add());
        await target.addToGroup(connection.connectionId, 'g');
      }
      const before = managers.map((m, i) => (isKafka(driver) ? kafkaCounts[i]! : m.stats.received));
      await pump(options.messages, 500, (i) => managers[0]!.sendGroup('g', 'm', [i, TEXT]));
      await counter.until(options.messages * options.members, 120_000, `${driver} group deliveries`);
      const received = () =>
        managers.map((m, i) => (isKafka(driver) ? kafkaCounts[i]! : m.stats.received) - before[i]!);
      // Servers without members may still be reading (Kafka: every server reads the whole topic).
      await settled(received);
      const receivedPerServer = received();
      results.push(summary(driver, receivedPerServer, options.messages));
    } catch (error) {
      results.push({
        contender: driver,
        receivedPerServer: [],
        receivedPerMessage: Number.NaN,
        error: String(error),
      });
    } finally {
      await stopCluster(managers);
    }
  }
  progress.detail('group scaling: socket.io');
  results.push(
    await socketIoGroupScaling(brokers.redis!.url, options).catch(
      (error: unknown): GroupScalingResult => ({
        contender: 'socket.io',
        receivedPerServer: [],
        receivedPerMessage: Number.NaN,
        error: String(error),
      }),
    ),
  );
  for (const r of results)
    progress.note(
      `${r.contender}: ${r.receivedPerMessage.toFixed(2)} broker messages received per message sent [${r.receivedPerServer.join(', ')}]${r.error ? ` ERROR ${r.error}` : ''}`,
    );
  return results;
}

/** Waits until `counts()` stops changing for {@link QUIET_MS} (at most 10 s): the stragglers are done reading. */
async function settled(counts: () => number[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = counts().join();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const now = counts().join();
    if (now === last || Date.now() > deadline) return;
    last = now;
  }
}

function summary(
  contender: DriverName | 'socket.io',
  receivedPerServer: number[],
  messages: number,
): GroupScalingResult {
  // Liveness probes and presence heartbeats also arrive; they are what an idle server costs anyway.
  return {
    contender,
    receivedPerServer,
    receivedPerMessage: receivedPerServer.reduce((a, b) => a + b, 0) / messages,
  };
}

/** A Kafka client counting every record its consumer delivers (before the driver filters by channel). */
function countingKafkaClient(name: KafkaClientName, bootstrap: string, onRecord: () => void): KafkaClient {
  const inner = kafkaClient(name, bootstrap);
  const consume: KafkaClient['consume'] = (topic, handle, ...rest) =>
    inner.consume(
      topic,
      (record) => {
        onRecord();
        handle(record);
      },
      ...rest,
    );
  // Everything else goes straight to the client (whatever the interface grows).
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'consume') return consume;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function socketIoGroupScaling(
  redisUrl: string,
  options: GroupScalingOptions,
): Promise<GroupScalingResult> {
  const nodes: Array<{ io: Server; http: HttpServer; pub: Redis; sub: Redis; received: number }> = [];
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < options.servers; i++) {
      const pub = new Redis(redisUrl);
      const sub = pub.duplicate();
      const http = createServer();
      const io = new Server(http, { adapter: createAdapter(pub, sub), transports: ['websocket'] });
      io.on('connection', (socket) => socket.join('g'));
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      const node = { io, http, pub, sub, received: 0 };
      sub.on('messageBuffer', () => node.received++);
      sub.on('pmessageBuffer', () => node.received++);
      nodes.push(node);
    }
    const counter = new Counter();
    const last = nodes[options.servers - 1]!;
    for (let m = 0; m < options.members; m++) {
      const socket = ioClient(`http://127.0.0.1:${(last.http.address() as AddressInfo).port}`, {
        transports: ['websocket'],
        reconnection: false,
      });
      sockets.push(socket);
      socket.on('m', () => counter.add());
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
    }
    // Joining happens on the server's connection handler; wait until the room is full there.
    const deadline = Date.now() + 10_000;
    while ((last.io.of('/').adapter.rooms.get('g')?.size ?? 0) < options.members) {
      if (Date.now() > deadline) throw new Error('socket.io members did not join in time');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const before = nodes.map((n) => n.received);
    for (let i = 0; i < options.messages; i++) nodes[0]!.io.to('g').emit('m', i, TEXT);
    await counter.until(options.messages * options.members, 120_000, 'socket.io group deliveries');
    await settled(() => nodes.map((n) => n.received));
    return summary(
      'socket.io',
      nodes.map((n, i) => n.received - before[i]!),
      options.messages,
    );
  } finally {
    for (const s of sockets) s.disconnect();
    for (const n of nodes) {
      n.io.close();
      n.pub.disconnect();
      n.sub.disconnect();
    }
  }
}
