import { readFileSync } from 'node:fs';
import { cpus, totalmem, type } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the numbers come from: the machine and every moving part's version. */
export interface Environment {
  readonly date: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly brokers: Record<string, string>;
  readonly packages: Record<string, string>;
}

const PACKAGES = [
  'ioredis',
  '@nats-io/transport-node',
  'kafkajs',
  '@platformatic/kafka',
  'msgpackr',
  'ws',
  '@microsoft/signalr',
  'socket.io',
  'socket.io-client',
  '@socket.io/redis-adapter',
] as const;

export function describeEnvironment(brokers: Record<string, string>): Environment {
  const packages: Record<string, string> = {};
  for (const name of PACKAGES) packages[name] = packageVersion(name);
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: type(),
    node: process.version,
    brokers,
    packages,
  };
}

/** The installed version of `name` (found by walking up from its resolved entry point). */
export function packageVersion(name: string): string {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve(name)));
    for (let i = 0; i < 8; i++) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
          name?: string;
          version?: string;
        };
        if (pkg.name === name && pkg.version) return pkg.version;
      } catch {}
      dir = dirname(dir);
    }
  } catch {}
  return 'unknown';
}
