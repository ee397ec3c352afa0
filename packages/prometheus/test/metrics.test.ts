import type { LocalConnection } from '@backplane/core';
import { ENVELOPE_VERSION, encodeEnvelope } from '@backplane/core/internal';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { Hub } from '@backplane/signalr';
import { waitFor } from '@backplane/testkit';
import type * as signalR from '@microsoft/signalr';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_INVOCATION_BUCKETS, registerBackplaneMetrics, UNKNOWN_METHOD } from '../src/index.js';
import {
  connect,
  LogBus,
  LogDriver,
  type Node,
  nextCall,
  read,
  SwitchableDriver,
  scrape,
  seriesValue,
  startNode,
  WAIT_MS,
} from './fixtures.js';

/** A memory driver whose session store refuses every write (a store that is down). */
class StoreRefusingDriver extends MemoryDriver {
  override putRecord(): Promise<void> {
    return Promise.reject(new Error('the session store refuses writes'));
  }
}

/** How long a hub method of the tests waits, in ms (its duration must show in the histogram). */
const WAIT_METHOD_MS = 50;

class MetricsHub extends Hub {
  static methodAuthorization = { Secret: true as const };
  Echo(value: unknown) {
    return value;
  }
  Fail() {
    throw new Error('failed on purpose');
  }
  Secret() {
    return 'never: no caller is authenticated';
  }
  async Wait() {
    await new Promise((resolve) => setTimeout(resolve, WAIT_METHOD_MS));
  }
  async *Count(count: number, signal: AbortSignal) {
    for (let i = 0; i < count && !signal.aborted; i++) yield i;
  }
  async *Forever(signal: AbortSignal) {
    yield 'first';
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  }
  GetConnectionId() {
    return this.context.connectionId;
  }
  async JoinGroup(group: string) {
    await this.groups.add(this.context.connectionId, group);
  }
  async SendAll(text: string) {
    await this.clients.all.send('Message', text);
  }
  async SendToGroup(group: string, text: string) {
    await this.clients.group(group).send('Message', text);
  }
  async SendToUser(user: string, text: string) {
    await this.clients.user(user).send('Message', text);
  }
  async SendToConnection(connectionId: string, text: string) {
    await this.clients.client(connectionId).send('Message', text);
  }
  /** Two messages to the caller in one event-loop turn: past a small `transportMaxBufferSize`. */
  async Burst(size: number) {
    const text = 'x'.repeat(size);
    await Promise.all([this.clients.caller.send('Message', text), this.clients.caller.send('Message', text)]);
  }
}

const open: Array<{ close(): Promise<void> } | { stop(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((o) => ('close' in o ? o.close() : o.stop())));
});

async function node(nodeId: string, options: Partial<Parameters<typeof startNode>[0]> = {}): Promise<Node> {
  const started = await startNode({
    nodeId,
    driver: new MemoryDriver({ bus: new MemoryBus() }),
    hubs: { '/metrics': MetricsHub },
    ...options,
  });
  open.push(started);
  return started;
}

async function client(
  url: string,
  transport: Parameters<typeof connect>[1] = 'WebSockets',
  protocol: Parameters<typeof connect>[2] = 'json',
  user?: string,
  statefulReconnect = false,
): Promise<signalR.HubConnection> {
  const connection = await connect(url, transport, protocol, user, statefulReconnect);
  open.push(connection);
  return connection;
}

describe('metrics', () => {
  it('metrics - connections: the gauge by transport and protocol rises and falls; opened and closed count', async () => {
    const n = await node('conn');
    const hub = `${n.url}/metrics`;
    await client(hub, 'WebSockets', 'json');
    await client(hub, 'WebSockets', 'messagepack');
    await client(hub, 'ServerSentEvents', 'json');
    const polling = await client(hub, 'LongPolling', 'messagepack');
    let samples = await scrape(n.registry);
    const series = (name: string, transport: string, protocol: string) =>
      seriesValue(samples, name, { transport, protocol });
    expect(series('backplane_connections', 'websockets', 'json')).toBe(1);
    expect(series('backplane_connections', 'websockets', 'messagepack')).toBe(1);
    expect(series('backplane_connections', 'serversentevents', 'json')).toBe(1);
    expect(series('backplane_connections', 'longpolling', 'messagepack')).toBe(1);
    expect(seriesValue(samples, 'backplane_connections')).toBe(4);
    expect(seriesValue(samples, 'backplane_connections_opened_total')).toBe(4);
    expect(seriesValue(samples, 'backplane_connections_closed_total')).toBe(0);

    await polling.stop();
    await waitFor(
      async () =>
        (await read(n.registry, 'backplane_connections_closed_total', { transport: 'longpolling' })) === 1,
      { name: 'the long-polling connection counted closed', timeoutMs: WAIT_MS },
    );
    samples = await scrape(n.registry);
    expect(series('backplane_connections', 'longpolling', 'messagepack')).toBe(0);
    expect(series('backplane_connections_opened_total', 'longpolling', 'messagepack')).toBe(1);
    expect(seriesValue(samples, 'backplane_connections')).toBe(3);
  }, 20_000);

  it('metrics - hub invocations: counted by hub, method and outcome, timed in the histogram; undeclared methods are (unknown)', async () => {
    const n = await node('calls');
    const c = await client(`${n.url}/metrics`);
    expect(await c.invoke('Echo', 'hi')).toBe('hi');
    await expect(c.invoke('Fail')).rejects.toThrow(/An unexpected error occurred invoking 'Fail'/);
    await expect(c.invoke('Secret')).rejects.toThrow(/unauthorized/);
    await expect(c.invoke('NoSuchMethodFromAClient')).rejects.toThrow(/Method does not exist/);
    await expect(c.invoke('Echo')).rejects.toThrow(/Failed to invoke 'Echo'/);
    await c.invoke('Wait');
    const items: unknown[] = [];
    await new Promise<void>((resolve, reject) =>
      c.stream('Count', 3).subscribe({ next: (item) => items.push(item), complete: resolve, error: reject }),
    );
    expect(items).toEqual([0, 1, 2]);
    const first = new Promise<void>((resolve, reject) => {
      const subscription = c.stream('Forever').subscribe({
        next: () => {
          subscription.dispose();
          resolve();
        },
        complete: () => {},
        error: reject,
      });
    });
    await first;
    await waitFor(
      async () => (await read(n.registry, 'backplane_hub_invocations_total', { outcome: 'canceled' })) === 1,
      { name: 'the canceled stream counted', timeoutMs: WAIT_MS },
    );

    const samples = await scrape(n.registry);
    const calls = (method: string, outcome: string) =>
      seriesValue(samples, 'backplane_hub_invocations_total', { hub: '/metrics', method, outcome });
    expect(calls('Echo', 'ok')).toBe(1);
    expect(calls('Fail', 'error')).toBe(1);
    expect(calls('Secret', 'unauthorized')).toBe(1);
    expect(calls(UNKNOWN_METHOD, 'invalid')).toBe(1);
    expect(calls('Echo', 'invalid')).toBe(1);
    expect(calls('Wait', 'ok')).toBe(1);
    expect(calls('Count', 'ok')).toBe(1);
    expect(calls('Forever', 'canceled')).toBe(1);
    // A client cannot make a series: the name it sent appears nowhere.
    expect(samples.some((s) => Object.values(s.labels).includes('NoSuchMethodFromAClient'))).toBe(false);

    const duration = 'backplane_hub_invocation_duration_seconds';
    expect(seriesValue(samples, `${duration}_count`, { method: 'Echo', outcome: 'ok' })).toBe(1);
    expect(seriesValue(samples, `${duration}_count`, { method: 'Wait', outcome: 'ok' })).toBe(1);
    expect(seriesValue(samples, `${duration}_sum`, { method: 'Wait' })).toBeGreaterThanOrEqual(
      (WAIT_METHOD_MS - 5) / 1_000,
    );
    expect(seriesValue(samples, `${duration}_bucket`, { method: 'Wait', le: '0.01' })).toBe(0);
    expect(
      samples
        .filter((s) => s.name === `${duration}_bucket` && s.labels.method === 'Wait')
        .map((s) => s.labels.le),
    ).toEqual([...DEFAULT_INVOCATION_BUCKETS.map(String), '+Inf']);
    // Streams are counted, not timed: their duration is how long the client keeps them open.
    expect(seriesValue(samples, `${duration}_count`, { method: 'Count' })).toBeUndefined();
  }, 20_000);

  it('metrics - deliveries, frames and records: a message sent from another node moves them on the receiving node', async () => {
    const bus = new MemoryBus();
    const a = await node('deliver-a', { driver: new MemoryDriver({ bus }) });
    const b = await node('deliver-b', { driver: new MemoryDriver({ bus }) });
    const sender = await client(`${a.url}/metrics`);
    const receiver = await client(`${b.url}/metrics`);
    const names = [
      'backplane_delivered_total',
      'backplane_frames_sent_total',
      'backplane_records_sent_total',
    ];
    const before = await scrape(b.registry);
    const got = nextCall(receiver, 'Message');
    await sender.invoke('SendAll', 'hello');
    expect(await got).toEqual(['hello']);
    const after = await scrape(b.registry);
    for (const name of names)
      expect(seriesValue(after, name)! - seriesValue(before, name)!, name).toBeGreaterThanOrEqual(1);
    expect(
      seriesValue(after, 'backplane_delivered_total')! - seriesValue(before, 'backplane_delivered_total')!,
    ).toBe(1);
  }, 20_000);

  it('metrics - requests about connections: a request through a node that does not hold the connection is sent, answered and, when the connection is gone, failed', async () => {
    const bus = new MemoryBus();
    const a = await node('requests-a', { driver: new MemoryDriver({ bus }) });
    const b = await node('requests-b', { driver: new MemoryDriver({ bus }) });
    // The hub server of b answers requests about its connections (what SSE and long polling forward).
    const held = await client(`${b.url}/metrics`, 'LongPolling');
    const id = held.connectionId!;
    const before = await scrape(a.registry);
    const poll = new TextEncoder().encode('not a forwarded request');
    await a.manager.request(id, poll, { timeout: 1_000 }).catch(() => {});
    await expect(
      a.manager.request(`${'a'.repeat(22)}.gone-12345678`, poll, { timeout: 1_000 }),
    ).rejects.toThrow();
    const afterA = await scrape(a.registry);
    const afterB = await scrape(b.registry);
    const moved = (name: string) => seriesValue(afterA, name)! - (seriesValue(before, name) ?? 0);
    expect(moved('backplane_requests_sent_total')).toBe(1);
    expect(moved('backplane_request_failures_total')).toBeGreaterThanOrEqual(1);
    expect(seriesValue(afterB, 'backplane_requests_answered_total')).toBe(1);
  }, 20_000);

  it('metrics - sessions: the record of a stateful connection is saved, a failing session store is counted, an adopted session is counted', async () => {
    const bus = new MemoryBus();
    const a = await node('sessions-a', { driver: new MemoryDriver({ bus }) });
    const b = await node('sessions-b', { driver: new MemoryDriver({ bus }) });
    const broken = await node('sessions-broken', {
      driver: new StoreRefusingDriver({ bus: new MemoryBus() }),
    });
    // Exported from the start (a missing series would read as undefined, not 0).
    for (const n of [a, b, broken]) {
      const samples = await scrape(n.registry);
      for (const name of [
        'backplane_sessions_saved_total',
        'backplane_session_store_failures_total',
        'backplane_sessions_adopted_total',
      ])
        expect(seriesValue(samples, name), `${name} before anything`).toBe(0);
    }

    // A stateful-reconnect client: its session's record is written after the handshake.
    const stateful = await client(`${a.url}/metrics`, 'WebSockets', 'json', 'alice', true);
    await waitFor(async () => (await read(a.registry, 'backplane_sessions_saved_total')) >= 1, {
      name: 'the session record saved',
      timeoutMs: WAIT_MS,
    });
    expect(stateful.connectionId).toBeTruthy();
    expect(await read(a.registry, 'backplane_session_store_failures_total')).toBe(0);

    // The same on a node whose store refuses every write: counted as a failure, nothing saved.
    await client(`${broken.url}/metrics`, 'WebSockets', 'json', 'bob', true);
    await waitFor(async () => (await read(broken.registry, 'backplane_session_store_failures_total')) >= 1, {
      name: 'the refused write counted',
      timeoutMs: WAIT_MS,
    });
    expect(await read(broken.registry, 'backplane_sessions_saved_total')).toBe(0);

    // Another node takes a session over from a record (as it does for a client whose node died).
    const connectionId = `${'s'.repeat(22)}.gone-12345678`;
    const adopted = await b.manager.sessions.adopt(
      {
        connectionId,
        userIdentifier: 'carol',
        protocol: { name: 'json' } as LocalConnection['protocol'],
        write() {},
      },
      {
        connectionId,
        userId: 'carol',
        protocol: 'json',
        holder: 'gone-12345678',
        groups: ['g'],
        acked: 0,
        received: 0,
        pending: [],
        positions: {},
        savedAt: Date.now(),
        final: true,
        overflowed: false,
        bound: 0,
      },
    );
    adopted.release();
    expect(await read(b.registry, 'backplane_sessions_adopted_total')).toBe(1);
    expect(await read(a.registry, 'backplane_sessions_adopted_total')).toBe(0);
  }, 20_000);

  it('metrics - backplane publishes and receives by channel kind, and the publish duration histogram', async () => {
    const bus = new LogBus();
    const a = await node('kinds-a', { driver: new LogDriver(bus) });
    const b = await node('kinds-b', { driver: new LogDriver(bus) });
    const sender = await client(`${a.url}/metrics`);
    const receiver = await client(`${b.url}/metrics`, 'WebSockets', 'json', 'bob');
    const receiverId = await receiver.invoke<string>('GetConnectionId');
    await receiver.invoke('JoinGroup', 'g');
    const before = { a: await scrape(a.registry), b: await scrape(b.registry) };
    for (const [method, args] of [
      ['SendAll', []],
      ['SendToGroup', ['g']],
      ['SendToUser', ['bob']],
      ['SendToConnection', [receiverId]],
    ] as const) {
      const got = nextCall(receiver, 'Message');
      await sender.invoke(method, ...args, method);
      expect(await got).toEqual([method]);
    }
    const after = { a: await scrape(a.registry), b: await scrape(b.registry) };
    const moved = (node: 'a' | 'b', name: string, kind: string) =>
      (seriesValue(after[node], name, { kind }) ?? 0) - (seriesValue(before[node], name, { kind }) ?? 0);
    for (const kind of ['all', 'group', 'user', 'server']) {
      expect(moved('a', 'backplane_published_total', kind), `published ${kind}`).toBeGreaterThanOrEqual(1);
      expect(moved('b', 'backplane_received_total', kind), `received ${kind}`).toBeGreaterThanOrEqual(1);
      expect(
        moved('a', 'backplane_publish_duration_seconds_count', kind),
        `timed ${kind}`,
      ).toBeGreaterThanOrEqual(1);
    }
    // Servers that cannot count receivers announce themselves: each hears the other's heartbeats.
    expect(seriesValue(after.a, 'backplane_published_total', { kind: 'presence' })).toBeGreaterThanOrEqual(1);
    expect(seriesValue(after.b, 'backplane_received_total', { kind: 'presence' })).toBeGreaterThanOrEqual(1);
    // No channel name is a label.
    for (const s of [...after.a, ...after.b])
      expect(Object.values(s.labels).join(' ')).not.toMatch(/metrics:|bob/);
  }, 20_000);

  it('metrics - link state, outages, outbox depth and drops: an outage takes the link down, fills the outbox, drops past its bound', async () => {
    const driver = new SwitchableDriver({ bus: new MemoryBus() });
    const n = await node('outage', {
      driver,
      manager: { liveness: false, outbox: { maxMessages: 2, flushDelay: 0 } },
    });
    expect(await read(n.registry, 'backplane_link_up')).toBe(1);
    expect(await read(n.registry, 'backplane_outages_total')).toBe(0);
    driver.cut();
    await waitFor(async () => (await read(n.registry, 'backplane_link_up')) === 0, {
      name: 'the link down',
      timeoutMs: WAIT_MS,
    });
    for (let i = 0; i < 3; i++) await n.manager.sendAll('Message', [`during ${i}`]);
    let samples = await scrape(n.registry);
    expect(seriesValue(samples, 'backplane_outages_total')).toBe(1);
    expect(seriesValue(samples, 'backplane_outbox_buffered')).toBe(2);
    expect(seriesValue(samples, 'backplane_outbox_dropped_total')).toBe(1);
    driver.restore();
    await waitFor(async () => (await read(n.registry, 'backplane_outbox_buffered')) === 0, {
      name: 'the outbox flushed',
      timeoutMs: WAIT_MS,
    });
    samples = await scrape(n.registry);
    expect(seriesValue(samples, 'backplane_link_up')).toBe(1);
    expect(seriesValue(samples, 'backplane_outages_total')).toBe(1);
  }, 20_000);

  it('metrics - gaps, duplicates and malformed input: what arrives on the backplane out of order, twice or unreadable is counted', async () => {
    const bus = new MemoryBus();
    const n = await node('losses', { driver: new MemoryDriver({ bus }) });
    const intruder = new MemoryDriver({ bus });
    open.push(intruder);
    await intruder.connect();
    const channel = n.manager.channels.all;
    const envelope = (seq: number) =>
      encodeEnvelope({
        v: ENVELOPE_VERSION,
        origin: 'other-node-0123abcd',
        epoch: '0123456789abcdef',
        seq,
        kind: 'invocation',
        payloads: new Map(),
      });
    await intruder.publish(channel, envelope(1));
    await intruder.publish(channel, envelope(4)); // 2 and 3 never arrive
    await intruder.publish(channel, envelope(4));
    await intruder.publish(channel, new TextEncoder().encode('not an envelope'));
    // A readable invocation whose trace context is not: delivered, and counted apart.
    await intruder.publish(
      channel,
      encodeEnvelope({
        v: ENVELOPE_VERSION,
        origin: 'other-node-0123abcd',
        epoch: '0123456789abcdef',
        seq: 5,
        kind: 'invocation',
        payloads: new Map(),
        trace: { traceparent: 'not a traceparent' },
      }),
    );
    await waitFor(async () => (await read(n.registry, 'backplane_malformed_trace_contexts_total')) === 1, {
      name: 'the malformed trace context counted',
      timeoutMs: WAIT_MS,
    });
    await waitFor(async () => (await read(n.registry, 'backplane_malformed_total')) === 1, {
      name: 'the malformed payload counted',
      timeoutMs: WAIT_MS,
    });
    const samples = await scrape(n.registry);
    expect(seriesValue(samples, 'backplane_gap_messages_total')).toBe(2);
    expect(seriesValue(samples, 'backplane_duplicates_total')).toBe(1);
    expect(seriesValue(samples, 'backplane_tracked_origins')).toBe(1);
    expect(seriesValue(samples, 'backplane_received_total', { kind: 'all' })).toBeGreaterThanOrEqual(4);
  }, 20_000);

  it('metrics - replays: in durable mode, messages a node missed and read back from the log are counted', async () => {
    const bus = new LogBus();
    const deaf = new LogDriver(bus);
    const a = await node('replay-a', { driver: new LogDriver(bus), manager: { durable: true } });
    const b = await node('replay-b', { driver: deaf, manager: { durable: true } });
    await a.manager.sendAll('Message', ['heard']);
    await waitFor(async () => (await read(b.registry, 'backplane_received_total', { kind: 'all' })) === 1, {
      name: 'the first message heard',
      timeoutMs: WAIT_MS,
    });
    deaf.deaf = true;
    for (let i = 1; i <= 3; i++) await a.manager.sendAll('Message', [`missed ${i}`]);
    deaf.deaf = false;
    await a.manager.sendAll('Message', ['revealing']);
    await waitFor(async () => (await read(b.registry, 'backplane_replayed_total')) === 4, {
      name: 'the missed messages and the one that revealed them replayed',
      timeoutMs: WAIT_MS,
    });
    expect(await read(b.registry, 'backplane_gap_messages_total')).toBe(0);
  }, 20_000);

  it('metrics - slow-consumer closes: a connection closed for what waits to be sent to it is counted', async () => {
    const n = await node('slow', { server: { transportMaxBufferSize: 1_024 } });
    const c = await client(`${n.url}/metrics`);
    const closed = new Promise<void>((resolve) => c.onclose(() => resolve()));
    void c.invoke('Burst', 800).catch(() => {});
    await closed;
    await waitFor(async () => (await read(n.registry, 'backplane_slow_consumer_closes_total')) === 1, {
      name: 'the slow consumer counted',
      timeoutMs: WAIT_MS,
    });
  }, 20_000);

  it('metrics - registration: measurements false registers only what is read when scraped; unregister removes everything', async () => {
    const n = await node('registration');
    const registry = new Registry();
    const metrics = registerBackplaneMetrics(
      registry,
      { manager: n.manager, hubServer: n.hubs },
      {
        measurements: false,
        prefix: 'app_',
      },
    );
    const c = await client(`${n.url}/metrics`);
    await c.invoke('Echo', 1);
    const names = new Set((await scrape(registry)).map((s) => s.name));
    expect(names.has('app_connections')).toBe(true);
    expect(names.has('app_published_total')).toBe(true);
    expect([...names].some((name) => /invocation|duration/.test(name))).toBe(false);
    // The node's own registration counted the call: it measures, this one does not.
    expect(await read(n.registry, 'backplane_hub_invocations_total', { method: 'Echo' })).toBe(1);
    metrics.unregister();
    expect((await registry.metrics()).trim()).toBe('');
    // A second registration of the same names into one registry fails and leaves nothing behind.
    expect(() => registerBackplaneMetrics(n.registry, { manager: n.manager })).toThrow(
      /already been registered/,
    );
    expect(await read(n.registry, 'backplane_hub_invocations_total', { method: 'Echo' })).toBe(1);
  }, 20_000);

  it('metrics - opt-in: while nothing measures, no hub method call and no publish reads the clock', async () => {
    const n = await node('idle');
    n.metrics.unregister();
    const c = await client(`${n.url}/metrics`);
    const clock = vi.spyOn(performance, 'now');
    try {
      for (let i = 0; i < 5; i++) await c.invoke('SendAll', 'unmeasured');
      const unmeasured = clock.mock.calls.length;
      const metrics = registerBackplaneMetrics(new Registry(), { manager: n.manager, hubServer: n.hubs });
      for (let i = 0; i < 5; i++) await c.invoke('SendAll', 'measured');
      metrics.unregister();
      expect(unmeasured).toBe(0);
      // A start and an end per call and per publish.
      expect(clock.mock.calls.length).toBeGreaterThanOrEqual(5 * 2 * 2);
    } finally {
      clock.mockRestore();
    }
  }, 20_000);
});
