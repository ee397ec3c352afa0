import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * What a user gets from the registry: every published package is packed with `npm pack`, the tarballs are
 * installed into a fresh project outside the repository, and that project imports, type-checks and runs them.
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Every published package: the folders under packages/ (examples/, benchmarks/ and test/ are private). */
const PUBLISHED = readdirSync(join(ROOT, 'packages')).filter((name) =>
  existsSync(join(ROOT, 'packages', name, 'package.json')),
);
/** Packing and installing ten packages and their dependencies (a warm npm cache: ~25 s), in ms. */
const INSTALL_TIMEOUT_MS = 150_000;
/** One tsc run over the installed declarations (and those of their dependencies), in ms. */
const TYPECHECK_TIMEOUT_MS = 60_000;

/** Files a package reads at run time besides its entry points. */
const RUNTIME_FILES: Record<string, string[]> = {
  // The Kafka launchers fetch the broker's jars with it and start the broker with its log4j configuration.
  '@backplane/testkit': ['kafka/fetch.sh', 'kafka/pom.xml', 'kafka/log4j.properties'],
};

interface PackedPackage {
  name: string;
  filename: string;
  files: Array<{ path: string }>;
}

interface Manifest {
  name: string;
  main?: string;
  types?: string;
  bin?: Record<string, string>;
  private?: boolean;
  exports: Record<string, { types: string; import: string }>;
}

const manifests = new Map<string, Manifest>(
  PUBLISHED.map((dir) => {
    const manifest = JSON.parse(
      readFileSync(join(ROOT, 'packages', dir, 'package.json'), 'utf8'),
    ) as Manifest;
    return [manifest.name, manifest];
  }),
);

/** npm's environment minus what ties a child npm to this repository (the parent `npm test`'s prefix). */
function npmEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env))
    if (/^npm_(config_local_prefix|package_|lifecycle_)/i.test(key) || key === 'INIT_CWD') delete env[key];
  return env;
}

let dir: string;
let project: string;
let packed: PackedPackage[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'backplane-pack-'));
  const tarballs = join(dir, 'tarballs');
  project = join(dir, 'app');
  mkdirSync(tarballs);
  const workspaces = PUBLISHED.flatMap((name) => ['-w', `packages/${name}`]);
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', tarballs, ...workspaces], {
    cwd: ROOT,
    env: npmEnv(),
    maxBuffer: 64 * 1024 * 1024,
  });
  packed = JSON.parse(stdout) as PackedPackage[];

  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
  );
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
      ...packed.map((p) => join(tarballs, p.filename)),
    ],
    { cwd: project, env: npmEnv(), maxBuffer: 64 * 1024 * 1024 },
  );
}, INSTALL_TIMEOUT_MS);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('pack', () => {
  it('pack - every published package packs, with its entry points, README and LICENSE, and no tests or sources', () => {
    expect([...manifests.values()].filter((m) => m.private)).toEqual([]);
    expect(packed.map((p) => p.name).sort()).toEqual([...manifests.keys()].sort());
    for (const { name, files } of packed) {
      const paths = files.map((f) => f.path);
      const manifest = manifests.get(name)!;
      const entries = [
        manifest.main,
        manifest.types,
        ...Object.values(manifest.bin ?? {}),
        ...Object.values(manifest.exports).flatMap((e) => [e.types, e.import]),
        ...(RUNTIME_FILES[name] ?? []),
      ].filter((path): path is string => path !== undefined);
      for (const entry of entries)
        expect(paths, `${name} ships ${entry}`).toContain(entry.replace(/^\.\//, ''));
      expect(paths, name).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE']));
      const unwanted = paths.filter((path) =>
        /^(src|test|api)\/|\.test\.|^tsconfig|^api-extractor|^\.turbo\//.test(path),
      );
      expect(unwanted, `${name} ships only what runs`).toEqual([]);
    }
  });

  it('pack - every exports entry of the installed packages imports as ESM and runs', async () => {
    const specifiers = [...manifests.values()].flatMap((m) =>
      Object.keys(m.exports).map((key) => (key === '.' ? m.name : `${m.name}/${key.slice(2)}`)),
    );
    const script = `
      const counts = {};
      for (const specifier of ${JSON.stringify(specifiers)}) counts[specifier] = Object.keys(await import(specifier)).length;
      // Two lifetime managers on one memory bus, from the tarballs: a send on one reaches a connection of the other.
      const { HubLifetimeManager } = await import('@backplane/core');
      const { createMemoryDriver, MemoryBus } = await import('@backplane/memory');
      const { TestClient } = await import('@backplane/testkit');
      const quiet = { debug() {}, info() {}, warn() {}, error() {} };
      const bus = new MemoryBus();
      const [a, b] = [1, 2].map(() => new HubLifetimeManager({ driver: createMemoryDriver({ bus }), hub: 'chat', logger: quiet }));
      await Promise.all([a.start(), b.start()]);
      const client = new TestClient({ connectionId: a.createConnectionId() });
      await a.onConnected(client);
      await b.sendAll('ReceiveMessage', ['pack', 'crossed']);
      const { target, arguments: args } = await client.readInvocation();
      // Its metrics in a registry of the consumer's own prom-client.
      const { registerBackplaneMetrics } = await import('@backplane/prometheus');
      const { Registry } = await import('prom-client');
      const registry = new Registry();
      registerBackplaneMetrics(registry, { manager: b });
      const published = (await registry.metrics()).split('\\n').find((l) => l.startsWith('backplane_published_total{kind="all"}'));
      await Promise.all([a.close(), b.close()]);
      console.log(JSON.stringify({ counts, received: [target, ...args], published }));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: project,
      timeout: 30_000,
    });
    const { counts, received, published } = JSON.parse(stdout) as {
      counts: Record<string, number>;
      received: unknown[];
      published: string;
    };
    expect(Object.keys(counts).sort()).toEqual([...specifiers].sort());
    for (const [specifier, count] of Object.entries(counts)) expect(count, specifier).toBeGreaterThan(0);
    expect(received).toEqual(['ReceiveMessage', 'pack', 'crossed']);
    expect(published).toBe('backplane_published_total{kind="all"} 1');
  });

  it(
    'pack - every exports entry has its .d.ts, and a strict TypeScript consumer type-checks against them',
    async () => {
      for (const manifest of manifests.values())
        for (const [key, entry] of Object.entries(manifest.exports))
          expect(
            existsSync(join(project, 'node_modules', manifest.name, entry.types)),
            `${manifest.name} ${key} types`,
          ).toBe(true);
      // Every package's declarations, and those they import (their dependencies'), checked: no skipLibCheck.
      writeFileSync(
        join(project, 'consumer.ts'),
        `import { createServer } from 'node:http';
import { type Driver, HubLifetimeManager } from '@backplane/core';
import { Channels } from '@backplane/core/internal';
import { JsonHubProtocol } from '@backplane/hub-protocol';
import { createMemoryDriver } from '@backplane/memory';
import { createRedisDriver } from '@backplane/redis';
import { createNatsDriver } from '@backplane/nats';
import { createKafkaDriver } from '@backplane/kafka';
import { registerBackplaneMetrics } from '@backplane/prometheus';
import { Hub, HubServer } from '@backplane/signalr';
import { Registry } from 'prom-client';
import { startRedis, TestClient } from '@backplane/testkit';
import { parseCommand, type RunningNode } from '@backplane/cli';

class ChatHub extends Hub {
  Echo(value: string): string {
    return value;
  }
}
const drivers: Driver[] = [createMemoryDriver(), createRedisDriver(), createNatsDriver(), createKafkaDriver()];
const manager = new HubLifetimeManager({ driver: drivers[0]!, hub: 'chat' });
const hubs: HubServer = new HubServer().mapHub('/chat', ChatHub, manager).attach(createServer());
const node: RunningNode | undefined = undefined;
const metrics = registerBackplaneMetrics(new Registry(), { manager, hubServer: hubs });
export const used = [hubs, node, metrics, new JsonHubProtocol(), Channels, startRedis, TestClient, parseCommand];
`,
      );
      writeFileSync(
        join(project, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            noEmit: true,
            skipLibCheck: false,
            types: ['node'],
            typeRoots: [join(ROOT, 'node_modules', '@types')],
          },
          files: ['consumer.ts'],
        }),
      );
      const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
      const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project }).catch(
        (error: { stdout?: string }) => ({ stdout: error.stdout ?? String(error) }),
      );
      expect(result.stdout).toBe('');
    },
    TYPECHECK_TIMEOUT_MS,
  );

  it('pack - the installed backplane bin prints the usage', async () => {
    const { stdout } = await run('npx', ['--no-install', 'backplane', '--help'], {
      cwd: project,
      env: npmEnv(),
      timeout: 30_000,
    });
    expect(stdout).toContain('Usage:');
    expect(stdout).toContain('backplane serve');
  });
});
