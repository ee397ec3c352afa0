import type { Transport } from '@backplane/core';
import { MemoryTransport } from '@backplane/memory';
import { createNatsTransport } from '@backplane/nats';
import { createRedisTransport } from '@backplane/redis';
import type { DriverName } from './args.js';
import { UsageError } from './cli-error.js';

/** The transport for `--driver` / `--url`. */
export function createTransport(driver: DriverName, url: string | undefined): Transport {
  switch (driver) {
    case 'memory':
      if (url) throw new UsageError('--url does not apply to the memory driver');
      return new MemoryTransport();
    case 'redis':
      return createRedisTransport({ url: url ?? 'redis://127.0.0.1:6379' });
    case 'nats':
      return createNatsTransport({ servers: url ?? 'nats://127.0.0.1:4222' });
    case 'kafka':
      throw new UsageError(
        `--driver ${driver} is not available in this build yet (use memory, redis or nats)`,
      );
  }
}
