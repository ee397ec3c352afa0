import { waitFor } from '@backplane/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type HttpTransport, next, nothing } from './chat-client.js';
import { runCli, SERVE_BROKERS, type ServeProcess, scrapeMetrics, startServe } from './serve-process.js';

const drivers = SERVE_BROKERS;

const combos: Array<[HttpTransport, 'json' | 'messagepack']> = [
  ['WebSockets', 'json'],
  ['ServerSentEvents', 'json'],
  ['LongPolling', 'json'],
  ['WebSockets', 'messagepack'],
  ['LongPolling', 'messagepack'],
];

for (const driver of drivers) {
  describe(`backplane serve on ${driver.name}`, () => {
    let broker: { url: string; stop(): Promise<void> };
    let nodes: ServeProcess[];
    beforeAll(async () => {
      broker = await driver.start();
      nodes = await Promise.all(
        ['east', 'west'].map((id) =>
          startServe([
            '--driver',
            driver.name,
            '--url',
            broker.url,
            '--node-id',
            id,
            '--token-secret',
            's3cret',
          ]),
        ),
      );
    }, 120_000);
    afterAll(async () => {
      await Promise.allSettled((nodes ?? []).map((n) => n.stop()));
      await broker?.stop();
    });

    for (const [transport, protocol] of combos) {
      it(`serve ${driver.name} - every /chat route crosses two serve processes on one ${driver.name} (${transport}, ${protocol})`, async () => {
        const [east, west] = nodes as [ServeProcess, ServeProcess];
        const a = await connect(east.url, transport, protocol, 'alice');
        const b = await connect(west.url, transport, protocol, 'bob');
        const bId = await b.invoke<string>('GetConnectionId');
        expect(bId).toContain('.west-');

        const both = [next(a), next(b)];
        await a.invoke('SendMessage', 'alice', 'all');
        for (const got of await Promise.all(both)) expect(got).toEqual(['alice', 'all']);

        await b.invoke('JoinGroup', 'g');
        let got = next(b);
        await a.invoke('SendToGroup', 'g', 'alice', 'group');
        expect(await got).toEqual(['alice', 'group']);

        got = next(b);
        await a.invoke('SendToUser', 'bob', 'alice', 'user');
        expect(await got).toEqual(['alice', 'user']);

        got = next(b);
        await a.invoke('SendToConnection', bId, 'alice', 'connection');
        expect(await got).toEqual(['alice', 'connection']);

        got = next(b);
        await a.invoke('SendToOthers', 'alice', 'others');
        expect(await got).toEqual(['alice', 'others']);
        await nothing(a);

        await b.invoke('LeaveGroup', 'g');
        await a.invoke('SendToGroup', 'g', 'alice', 'left');
        await nothing(b);

        expect(await a.invoke('Echo', 'echo')).toBe('echo');
        expect(await a.invoke('GetConnectionId')).toContain('.east-');
        b.on('Ask', (question: string) => `bob says yes to ${question}`);
        expect(await a.invoke('AskClient', bId, 'lunch?')).toBe('bob says yes to lunch?');
      });
    }

    it(`serve ${driver.name} - POST /api/broadcast reaches all, a group and a user on every node; /health reports the link; /metrics connections, invocations, publishes and receives`, async () => {
      const [east, west] = nodes as [ServeProcess, ServeProcess];
      const b = await connect(west.url, 'WebSockets', 'json', 'bob');
      await b.invoke('JoinGroup', 'news');
      for (const body of [{}, { group: 'news' }, { userId: 'bob' }]) {
        const got = next(b);
        const res = await fetch(`${east.url}/api/broadcast`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ user: 'api', message: 'from http', ...body }),
        });
        expect(res.status).toBe(202);
        expect(await got).toEqual(['api', 'from http']);
      }
      const bad = await fetch(`${east.url}/api/broadcast`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{',
      });
      expect(bad.status).toBe(400);
      const health = (await (await fetch(`${west.url}/health`)).json()) as Record<string, unknown>;
      expect(health).toEqual({ status: 'ok', backplane: 'connected', link: 'up' });
      await expect(b.invoke('NoSuchMethod')).rejects.toThrow(/Method does not exist/);
      const polling = await connect(west.url, 'LongPolling', 'messagepack', 'carol');
      expect(await polling.invoke('Echo', 'polled')).toBe('polled');
      const gauge = (transport: string, protocol: string) =>
        `backplane_connections{protocol="${protocol}",transport="${transport}"}`;
      // Clients of other cases are gone once their server has seen them close.
      let west$ = await waitFor(
        async () => {
          const metrics = await scrapeMetrics(west.url);
          return metrics.backplane_connections === 2 ? metrics : undefined;
        },
        { name: 'two connections on west', timeoutMs: 10_000 },
      );
      expect(west$).toMatchObject({
        [gauge('websockets', 'json')]: 1,
        [gauge('longpolling', 'messagepack')]: 1,
        backplane_link_up: 1,
        backplane_outages_total: 0,
        'backplane_hub_invocations_total{hub="/chat",method="(unknown)",outcome="invalid"}': 1,
      });
      await polling.stop();
      west$ = await waitFor(
        async () => {
          const metrics = await scrapeMetrics(west.url);
          return metrics[gauge('longpolling', 'messagepack')] === 0 ? metrics : undefined;
        },
        { name: 'the long-polling connection closed', timeoutMs: 10_000 },
      );
      const polled = '{protocol="messagepack",transport="longpolling"}';
      expect(west$[`backplane_connections_opened_total${polled}`]).toBeGreaterThanOrEqual(1);
      expect(west$[`backplane_connections_closed_total${polled}`]).toBeGreaterThanOrEqual(1);
      const calls = (method: string) => `{hub="/chat",method="${method}",outcome="ok"}`;
      for (const method of ['JoinGroup', 'Echo']) {
        expect(west$[`backplane_hub_invocations_total${calls(method)}`], method).toBeGreaterThanOrEqual(1);
        expect(
          west$[`backplane_hub_invocation_duration_seconds_count${calls(method)}`],
          method,
        ).toBeGreaterThanOrEqual(1);
      }
      for (const kind of ['all', 'group', 'user'])
        expect(west$[`backplane_received_total{kind="${kind}"}`], kind).toBeGreaterThanOrEqual(1);
      const east$ = await scrapeMetrics(east.url);
      for (const kind of ['all', 'group', 'user']) {
        expect(east$[`backplane_published_total{kind="${kind}"}`], kind).toBeGreaterThanOrEqual(1);
        expect(
          east$[`backplane_publish_duration_seconds_count{kind="${kind}"}`],
          kind,
        ).toBeGreaterThanOrEqual(1);
      }
      // No connection id, group or user name is a label.
      const text = await (await fetch(`${west.url}/metrics`)).text();
      expect(text).not.toMatch(/news|bob|\.west-/);
    });
  });
}

describe('backplane command line', () => {
  it('cli - bad flags exit 2 with one line and no stack trace', async () => {
    const { code, output } = await runCli(['serve', '--driver', 'carrier-pigeon']);
    expect(code).toBe(2);
    expect(output.trim().split('\n')).toEqual([
      "backplane: --driver must be one of memory, redis, nats, kafka (got 'carrier-pigeon')",
    ]);
  });

  it('cli - an unreachable broker exits 2 after the retry window', async () => {
    const { code, output } = await runCli([
      'serve',
      '--driver',
      'redis',
      '--url',
      'redis://127.0.0.1:1',
      '--token-secret',
      'x',
    ]);
    expect(code).toBe(2);
    expect(output).toMatch(/^backplane: Could not connect to Redis/m);
    expect(output).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('cli - SIGTERM shuts down gracefully with exit code 0', async () => {
    const node = await startServe(['--token-secret', 'x']);
    const exited = node.process.exited();
    await node.stop();
    expect(await exited).toBe(0);
  });

  it('cli - --log-format json writes one JSON object per log line, each with the node id', async () => {
    const node = await startServe(['--node-id', 'json-node', '--log-level', 'info', '--log-format', 'json']);
    try {
      const line = await waitFor(
        () => node.process.output.split('\n').find((l) => l.startsWith('{') && l.includes('"Started"')),
        { name: 'the Started log line', timeoutMs: 10_000 },
      );
      expect(JSON.parse(line)).toMatchObject({ level: 'info', node: 'json-node', msg: 'Started' });
    } finally {
      await node.stop();
    }
  });

  it('cli - --help prints the usage', async () => {
    const { code, output } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(output).toContain('backplane serve');
  });
});
