import type { Driver } from '@backplane/core';
import { createKafkaDriver, kafkaOptionsFromUrl } from '@backplane/kafka';
import { MemoryDriver } from '@backplane/memory';
import { createNatsDriver } from '@backplane/nats';
import { createRedisDriver } from '@backplane/redis';
import type { ServeOptions } from './args.js';
import { UsageError } from './cli-error.js';

/**
 * The driver for `--driver` / `--url` (passed to the driver as is: each driver reads its own URL forms);
 * `prefix` names the Kafka topic (one per app and hub). `durable` asks for the driver's log: Redis Streams,
 * a JetStream stream, the Kafka topic itself; `replicas`, how many copies of it the broker keeps.
 */
export function createDriver(
  options: Pick<ServeOptions, 'driver' | 'url' | 'prefix' | 'durable' | 'replicas'>,
): Driver {
  const { driver, url, prefix, durable, replicas } = options;
  if (durable && driver === 'memory')
    throw new UsageError('--durable needs a broker that keeps a log (redis, nats or kafka), not memory');
  switch (driver) {
    case 'memory':
      if (url) throw new UsageError('--url does not apply to the memory driver');
      return new MemoryDriver();
    case 'redis':
      return createRedisDriver({ url: url ?? 'redis://127.0.0.1:6379', ...(durable && { durable: {} }) });
    case 'nats':
      return createNatsDriver({
        servers: url ?? 'nats://127.0.0.1:4222',
        ...(durable && { durable: replicas === undefined ? {} : { replicas } }),
      });
    case 'kafka':
      // kafka://[user:pass@]host:port,…[?sasl=…], kafkas://… (TLS) or host:port,…: see parseKafkaUrl
      return createKafkaDriver({
        ...kafkaOptionsFromUrl(url ?? '127.0.0.1:9092'),
        topic: `${prefix}chat`.replace(/[^a-zA-Z0-9._-]/g, '-'),
        durable,
        ...(replicas !== undefined && { replicationFactor: replicas }),
      });
  }
}
