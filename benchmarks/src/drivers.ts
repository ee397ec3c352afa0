import { randomBytes } from 'node:crypto';
import type { Driver } from '@backplane/core';
import {
  type KafkaClient,
  type KafkaClientName,
  KafkaDriver,
  KafkajsClient,
  PlatformaticClient,
} from '@backplane/kafka';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { NatsDriver } from '@backplane/nats';
import { RedisDriver } from '@backplane/redis';
import { connect as natsConnect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { type Brokers, type DriverName, kafkaClientOf } from './brokers.js';

/** One isolated namespace per measurement, so rounds never see each other's traffic. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

/**
 * The drivers of one simulated cluster: `count` drivers on `driver`, each with its own connections
 * (as separate servers would have). Memory drivers share one bus. `topic` names the Kafka topic.
 */
export function createDrivers(
  driver: DriverName,
  brokers: Brokers,
  count: number,
  topic: string,
  options: { durable?: boolean; kafkaClient?: (i: number) => KafkaClient } = {},
): Driver[] {
  const bus = new MemoryBus();
  return Array.from({ length: count }, (_, i) => createDriver(driver, brokers, topic, bus, i, options));
}

function createDriver(
  driver: DriverName,
  brokers: Brokers,
  topic: string,
  bus: MemoryBus,
  i: number,
  options: { durable?: boolean; kafkaClient?: (i: number) => KafkaClient },
): Driver {
  switch (driver) {
    case 'memory':
      return new MemoryDriver({ bus });
    case 'redis':
      return new RedisDriver({ url: brokers.redis!.url, ...(options.durable && { durable: {} }) });
    case 'nats':
      return new NatsDriver({ servers: brokers.nats!.url });
    case 'kafka':
    case 'kafka-platformatic':
    case 'kafka-kafkajs':
      return new KafkaDriver({
        brokers: [brokers.kafka!.bootstrap],
        topic,
        client: options.kafkaClient?.(i) ?? kafkaClientOf(driver),
      });
  }
}

/** A Kafka client by name, on `bootstrap` (the raw contender, and counting wrappers, use it). */
export function kafkaClient(name: KafkaClientName, bootstrap: string): KafkaClient {
  return name === 'kafkajs'
    ? new KafkajsClient({ brokers: [bootstrap] })
    : new PlatformaticClient({ brokers: [bootstrap] });
}

/**
 * The raw broker client, doing the same fan-out without backplane: what each scenario's ratio is measured
 * against. Redis = ioredis, NATS = nats.js, Kafka = the variant's own client (through the driver's thin
 * `KafkajsClient` or `PlatformaticClient`, so producer and consumer settings are the same), memory = the bus.

 */
export interface RawClient {
  publish(channel: string, payload: Uint8Array): Promise<unknown> | undefined;
  subscribe(channel: string, onMessage: (payload: Uint8Array) => void): Promise<void>;
  close(): Promise<void>;
}

export async function createRawClient(
  driver: DriverName,
  brokers: Brokers,
  topic: string,
): Promise<RawClient> {
  switch (driver) {
    case 'memory':
      return rawMemory(sharedBus);
    case 'redis':
      return rawRedis(brokers.redis!.url);
    case 'nats':
      return rawNats(brokers.nats!.url);
    case 'kafka':
    case 'kafka-platformatic':
    case 'kafka-kafkajs':
      return rawKafka(kafkaClient(kafkaClientOf(driver), brokers.kafka!.bootstrap), topic);
  }
}

/** Raw memory clients of one run share a bus (created per run of the suite). */
let sharedBus = new MemoryBus();
export function resetRawMemoryBus(): void {
  sharedBus = new MemoryBus();
}

function rawMemory(bus: MemoryBus): RawClient {
  const subscribers: Array<{ channel: string; subscriber: { deliver(c: string, p: Uint8Array): void } }> = [];
  return {
    publish(channel, payload) {
      bus.publish(channel, payload);
      return undefined;
    },
    async subscribe(channel, onMessage) {
      const subscriber = { deliver: (_: string, payload: Uint8Array) => onMessage(payload) };
      bus.subscribe(channel, subscriber);
      subscribers.push({ channel, subscriber });
    },
    async close() {
      for (const s of subscribers) bus.unsubscribe(s.channel, s.subscriber);
    },
  };
}

function rawRedis(url: string): RawClient {
  const pub = new Redis(url);
  let sub: Redis | undefined;
  const handlers = new Map<string, (payload: Uint8Array) => void>();
  return {
    publish: (channel, payload) => pub.publish(channel, Buffer.from(payload)),
    async subscribe(channel, onMessage) {
      if (!sub) {
        sub = new Redis(url);
        sub.on('messageBuffer', (c: Buffer, message: Buffer) => handlers.get(c.toString())?.(message));
      }
      handlers.set(channel, onMessage);
      await sub.subscribe(channel);
    },
    async close() {
      pub.disconnect();
      sub?.disconnect();
    },
  };
}

async function rawNats(url: string): Promise<RawClient> {
  const nc = await natsConnect({ servers: url });
  let unflushed = 0;
  return {
    publish(channel, payload) {
      nc.publish(channel, payload);
      // nats.js buffers publishes; flush now and then so the window means what it does elsewhere.
      if (++unflushed >= 100) {
        unflushed = 0;
        return nc.flush();
      }
      return undefined;
    },
    async subscribe(channel, onMessage) {
      nc.subscribe(channel, {
        callback: (error, msg) => {
          if (!error) onMessage(msg.data);
        },
      });
      await nc.flush();
    },
    close: () => nc.close(),
  };
}

async function rawKafka(client: KafkaClient, topic: string): Promise<RawClient> {
  await client.ensureTopic(topic, { partitions: 1, replicationFactor: 1 });
  let queue: Array<{ key: string; value: Uint8Array }> = [];
  let flushing: Promise<void> | undefined;
  const flush = async () => {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      await client.produce(topic, batch);
    }
    flushing = undefined;
  };
  let reading = false;
  const handlers = new Map<string, (payload: Uint8Array) => void>();
  return {
    // Batched like the Kafka driver does it: what queues up during a send goes out as the next batch.
    publish(channel, payload) {
      queue.push({ key: channel, value: payload });
      flushing ??= flush();
      return flushing;
    },
    async subscribe(channel, onMessage) {
      handlers.set(channel, onMessage);
      if (reading) return;
      reading = true;
      await client.consume(
        topic,
        (record) => handlers.get(record.key)?.(record.value),
        () => {},
      );
    },
    close: () => client.close(),
  };
}
