import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// The built suite: scenarios start helper processes from dist/ (turbo builds it before this test).
import {
  type BenchResults,
  componentOf,
  parseBenchArgs,
  runBenchmarks,
  summarizeCpuProfile,
  writeResults,
} from '../dist/index.js';

const out = mkdtempSync(join(tmpdir(), 'backplane-bench-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('bench', () => {
  let results: BenchResults;

  it('bench - the smoke run measures every scenario on memory and Redis without errors', async () => {
    results = await runBenchmarks({ mode: 'smoke', drivers: ['memory', 'redis'], silent: true });
    const errors = [
      ...(results.efficiency ?? []),
      ...(results.broadcast ?? []),
      ...(results.latency ?? []),
      ...(results.groups ?? []),
      ...(results.recovery ?? []),
      ...(results.connections ? [results.connections] : []),
      ...(results.cost ?? []),
      ...(results.presence ?? []),
    ].flatMap((r) => (r.error ? [r.error] : []));
    expect(errors).toEqual([]);
    expect(results.efficiency?.map((r) => r.driver)).toEqual(['memory', 'redis']);
    for (const r of results.efficiency ?? []) expect(r.sendAll).toBeGreaterThan(0);
    expect(results.broadcast?.map((r) => r.contender)).toEqual(['backplane-redis', 'socket.io']);
    for (const r of results.broadcast ?? []) expect(r.deliveries).toBeGreaterThan(0);
    for (const p of results.latency ?? []) {
      expect(p.backplane.count).toBeGreaterThan(0);
      expect(p.lost).toEqual({ raw: 0, backplane: 0 });
    }
    // Per-channel subscriptions: only the members' server receives group messages; socket.io: every node.
    const redis = results.groups?.find((g) => g.contender === 'redis');
    expect(redis?.receivedPerServer.slice(0, -1).every((n) => n === 0)).toBe(true);
    const peer = results.groups?.find((g) => g.contender === 'socket.io');
    expect(peer?.receivedPerServer.every((n) => n >= 50)).toBe(true);
    expect(results.connections?.connections).toBe(40);
    expect(results.recovery?.[0]).toMatchObject({ driver: 'redis' });
    expect(results.recovery?.[0]?.recoveryMs).toBeGreaterThan(0);
    // Server cost: every contender at both fan-out levels, every broadcast delivered to every client.
    expect(results.cost?.map((c) => `${c.contender} ×${c.nodes} @${c.receiversPerNode}`)).toEqual(
      [
        'backplane-redis ×3',
        'socket.io-redis ×3',
        'backplane-memory ×1',
        'socket.io-memory ×1',
        'ws-floor-batched ×1',
        'ws-floor ×1',
      ].flatMap((c) => [`${c} @1`, `${c} @10`]),
    );
    for (const c of results.cost ?? []) {
      expect(c.partial).toBeUndefined();
      expect(c.rounds.length).toBe(1);
      for (const round of c.rounds) expect(round.deliveries).toBe(round.messages * c.clients);
      expect(c.recordsPerFrame).toBeGreaterThanOrEqual(1);
    }
    // The profiling pass: a profile of the first Redis node, most of its busy time in named components.
    const profile = results.costProfile;
    expect(profile?.error).toBeUndefined();
    expect(profile).toMatchObject({ contender: 'backplane-redis', nodes: 3, receiversPerNode: 10 });
    const components = profile?.summary?.components.map((c) => c.name) ?? [];
    expect(components).toContain('backplane: signalr');
    expect(components).toContain('backplane: core');
    expect(profile?.microsPerDelivery).toBeGreaterThan(0);
    // Presence: every query complete and right, on both drivers; a membership change publishes nothing.
    expect(results.presence?.map((p) => p.driver)).toEqual(['memory', 'redis']);
    for (const p of results.presence ?? []) {
      expect(p.queries.length).toBe(5);
      for (const q of p.queries) expect(q.partial).toBe(0);
      expect(p.change.published).toBeLessThan(1);
    }
  }, 120_000);

  it('bench - results are written as JSON and a markdown page with SVG charts', () => {
    const docs = join(out, 'docs', 'benchmarks.md');
    const written = writeResults(results, { resultsDir: join(out, 'results'), docsFile: docs });
    const json = JSON.parse(readFileSync(join(out, 'results', 'latest.json'), 'utf8')) as BenchResults;
    expect(json.mode).toBe('smoke');
    const markdown = readFileSync(docs, 'utf8');
    for (const heading of [
      '## Targets',
      '## 1. Backplane efficiency',
      '## 2. End-to-end broadcast',
      '## 3. Latency',
      '## 4. Group scaling',
      '## 5. Connections',
      '## 6. Recovery',
      '## 7. Server cost per delivery',
      '### 10 receivers per node',
      '### Where the time goes',
      '## 8. Presence',
    ])
      expect(markdown).toContain(heading);
    const charts = written.filter((p) => p.endsWith('.svg'));
    expect(charts.length).toBe(5);
    for (const chart of charts) {
      const svg = readFileSync(chart, 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(markdown).toContain(`benchmarks/${chart.split('/').pop()}`);
    }
  });

  it('bench - flags: modes, driver and scenario lists, and clear errors', () => {
    expect(parseBenchArgs(['--quick'])).toMatchObject({ mode: 'quick', drivers: undefined });
    expect(parseBenchArgs(['--drivers', 'redis,nats', '--only', 'latency'])).toMatchObject({
      mode: 'full',
      drivers: ['redis', 'nats'],
      scenarios: ['latency'],
    });
    expect(parseBenchArgs(['--no-docs']).docsFile).toBe(false);
    expect(() => parseBenchArgs(['--drivers', 'rabbitmq'])).toThrow(/unknown 'rabbitmq'/);
    expect(() => parseBenchArgs(['--quick', '--smoke'])).toThrow(/exclude/);
    expect(() => parseBenchArgs(['--fast'])).toThrow();
  });
});

describe('bench - cpu profile summary', () => {
  it('bench - a profile is summarized by component and function, idle left out', () => {
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 9 });
    const summary = summarizeCpuProfile({
      nodes: [
        { id: 1, callFrame: frame('(idle)', '') },
        { id: 2, callFrame: frame('deliver', 'file:///repo/packages/signalr/dist/index.js') },
        { id: 3, callFrame: frame('unpack', 'file:///repo/node_modules/msgpackr/unpack.js') },
        { id: 4, callFrame: frame('writev', '') },
        { id: 5, callFrame: frame('(garbage collector)', '') },
      ],
      samples: [1, 2, 2, 3, 4, 5, 1],
      timeDeltas: [500, 100, 100, 100, 100, 100, 500],
    });
    expect(summary.busyMs).toBeCloseTo(0.5);
    expect(summary.components).toEqual([
      { name: 'backplane: signalr', share: 0.4 },
      { name: 'msgpackr', share: 0.2 },
      { name: 'native (system calls, V8 builtins)', share: 0.2 },
      { name: 'garbage collection', share: 0.2 },
    ]);
    expect(summary.top[0]).toEqual({ name: 'deliver (packages/signalr/dist/index.js:10)', share: 0.4 });
    expect(componentOf('x', 'node:internal/stream_base_commons')).toMatch(/^Node\.js core/);
    expect(componentOf('x', 'file:///r/node_modules/@nats-io/nats-core/lib/parser.js')).toBe(
      '@nats-io/nats-core',
    );
  });
});
