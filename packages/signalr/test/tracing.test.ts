import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Driver, HubLifetimeManager, type TracingOptions } from '@backplane/core';
import { decodeEnvelope } from '@backplane/core/internal';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { RedisDriver } from '@backplane/redis';
import { type RedisServerHandle, startRedis } from '@backplane/testkit';
import type * as signalR from '@microsoft/signalr';
import { context, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { Packr } from 'msgpackr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type HubClass, HubServer } from '../src/index.js';
import { RawSocket, RS } from './raw-client.js';
import { connectClient, type Node, nextCall, quiet, stopNode, TestHub, WAIT_MS } from './two-nodes.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const traced: TracingOptions = { tracerProvider: provider };
const tracer = provider.getTracer('test');

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
});

const nodes: Node[] = [];
const clients: signalR.HubConnection[] = [];
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
  await Promise.allSettled(nodes.splice(0).map(stopNode));
  exporter.reset();
});

/** The test hub, its `Echo` refused to everyone. */
class GuardedHub extends TestHub {
  static methodAuthorization = { Echo: () => false };
}

/** A hub server with its lifetime manager, both traced with `tracing` (the default: the global provider). */
async function node(
  driver: Driver,
  nodeId: string,
  tracing?: TracingOptions,
  hubClass: HubClass = TestHub,
): Promise<Node> {
  const manager = new HubLifetimeManager({
    driver,
    nodeId,
    hub: 'chat',
    logger: quiet,
    ...(tracing && { tracing }),
  });
  await manager.start();
  const server = createServer();
  const hubs = new HubServer({
    tokenSecret: 'shared-test-secret',
    logger: quiet,
    ...(tracing && { tracing }),
  })
    .mapHub('/chat', hubClass, manager)
    .attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const created = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    hubs,
    manager,
  };
  nodes.push(created);
  return created;
}

async function client(at: Node): Promise<signalR.HubConnection> {
  const c = await connectClient(at.url, { transport: 'WebSockets', protocol: 'json' });
  clients.push(c);
  return c;
}

/** Waits for a finished span named `name` (spans end after the client got its answer, in a later turn). */
async function spanEnded(name: string): Promise<ReadableSpan> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const span = exporter.getFinishedSpans().find((s) => s.name === name);
    if (span) return span;
    if (Date.now() > deadline)
      throw new Error(`no span '${name}' in ${exporter.getFinishedSpans().map((s) => s.name)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A subscriber on the memory bus recording every envelope published to `channel`. */
function tap(bus: MemoryBus, channel: string): Uint8Array[] {
  const seen: Uint8Array[] = [];
  bus.subscribe(channel, { deliver: (_channel, payload) => seen.push(payload) });
  return seen;
}

/**
 * A's invocation span, the publish span it parents and B's process span, checked as one trace.
 * @returns the three spans
 */
async function expectOneTrace(system: string, a: Node, b: Node) {
  const invocation = await spanEnded('TestHub/SendToConnection');
  const publish = await spanEnded('publish server');
  const process = await spanEnded('process server');
  const traceId = invocation.spanContext().traceId;
  expect(invocation.kind).toBe(SpanKind.SERVER);
  expect(invocation.parentSpanContext).toBeUndefined();
  expect(invocation.attributes).toMatchObject({
    'rpc.system': 'signalr',
    'rpc.service': 'TestHub',
    'rpc.method': 'SendToConnection',
    'signalr.transport': 'web_sockets',
  });
  expect(invocation.status.code).toBe(SpanStatusCode.UNSET);
  expect(publish.kind).toBe(SpanKind.PRODUCER);
  expect(publish.spanContext().traceId).toBe(traceId);
  expect(publish.parentSpanContext?.spanId).toBe(invocation.spanContext().spanId);
  expect(publish.attributes).toMatchObject({
    'messaging.system': system,
    'messaging.operation.type': 'send',
    'messaging.destination.name': a.manager.channels.server(b.manager.serverId),
    'messaging.destination.template': 'backplane:chat:server:{server}',
    'messaging.client.id': a.manager.serverId,
  });
  expect(process.kind).toBe(SpanKind.CONSUMER);
  expect(process.spanContext().traceId).toBe(traceId);
  expect(process.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
  expect(process.attributes).toMatchObject({
    'messaging.system': system,
    'messaging.operation.type': 'process',
    'messaging.client.id': b.manager.serverId,
    'backplane.origin': a.manager.serverId,
    'backplane.deliveries': 1,
  });
  return { invocation, publish, process };
}

describe('tracing', () => {
  it('tracing - a hub method on server A sending to a client on server B is one trace across the backplane', async () => {
    const bus = new MemoryBus();
    const a = await node(new MemoryDriver({ bus }), 'a', traced);
    const b = await node(new MemoryDriver({ bus }), 'b', traced);
    const alice = await client(a);
    const bob = await client(b);
    const bobId = await bob.invoke<string>('GetConnectionId');
    exporter.reset();

    const received = nextCall(bob, 'ReceiveMessage');
    await alice.invoke('SendToConnection', bobId, 'alice', 'hi');
    expect(await received).toEqual(['alice', 'hi']);
    const { invocation } = await expectOneTrace('memory', a, b);
    expect(invocation.attributes['signalr.connection.id']).toBe(
      await alice.invoke<string>('GetConnectionId'),
    );
  });

  it('tracing - one trace crosses servers on a real Redis', async () => {
    const redis: RedisServerHandle = await startRedis();
    try {
      const a = await node(new RedisDriver({ url: redis.url }), 'a', traced);
      const b = await node(new RedisDriver({ url: redis.url }), 'b', traced);
      const alice = await client(a);
      const bob = await client(b);
      const bobId = await bob.invoke<string>('GetConnectionId');
      exporter.reset();

      const received = nextCall(bob, 'ReceiveMessage');
      await alice.invoke('SendToConnection', bobId, 'alice', 'over redis');
      expect(await received).toEqual(['alice', 'over redis']);
      await expectOneTrace('redis', a, b);
    } finally {
      await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
      await Promise.allSettled(nodes.splice(0).map(stopNode));
      await redis.stop();
    }
  });

  it('tracing - a failing hub method marks its span as an error', async () => {
    const a = await node(new MemoryDriver({ bus: new MemoryBus() }), 'a', traced);
    const alice = await client(a);
    await expect(alice.invoke('Fail')).rejects.toThrow(/An unexpected error occurred invoking 'Fail'/);
    const span = await spanEnded('TestHub/Fail');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.status.message).toBe('secret internals');
    expect(span.attributes['error.type']).toBe('Error');
    expect(span.events.map((e) => e.name)).toEqual(['exception']);

    await alice.invoke('Echo', 1);
    expect((await spanEnded('TestHub/Echo')).status.code).toBe(SpanStatusCode.UNSET);
  });

  it('tracing - a refused call marks its span as an error of type Refusal', async () => {
    const a = await node(new MemoryDriver({ bus: new MemoryBus() }), 'a', traced, GuardedHub);
    const alice = await client(a);
    await expect(alice.invoke('Echo', 1)).rejects.toThrow(/unauthorized/);
    const span = await spanEnded('GuardedHub/Echo');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['error.type']).toBe('Refusal');
  });

  it('tracing - a stream method is one span that ends with its stream', async () => {
    const a = await node(new MemoryDriver({ bus: new MemoryBus() }), 'a', traced);
    const alice = await client(a);
    const items: number[] = [];
    await new Promise<void>((resolve, reject) =>
      alice
        .stream<number>('Counter', 3)
        .subscribe({ next: (i) => items.push(i), complete: resolve, error: reject }),
    );
    expect(items).toEqual([0, 1, 2]);
    const counter = await spanEnded('TestHub/Counter');
    expect(counter.attributes['rpc.method']).toBe('Counter');
    expect(counter.status.code).toBe(SpanStatusCode.UNSET);

    // A stream that runs until the client cancels it: its span is still open after the first item.
    let first!: () => void;
    const gotFirst = new Promise<void>((resolve) => {
      first = resolve;
    });
    const subscription = alice.stream<string>('Forever', 'f1').subscribe({
      next: () => first(),
      complete: () => {},
      error: () => {},
    });
    await gotFirst;
    await alice.invoke('Echo', 'a round trip later');
    expect(exporter.getFinishedSpans().some((span) => span.name === 'TestHub/Forever')).toBe(false);
    subscription.dispose();
    const forever = await spanEnded('TestHub/Forever');
    expect(forever.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("tracing - an invocation's traceparent header is its span's parent", async () => {
    const a = await node(new MemoryDriver({ bus: new MemoryBus() }), 'a', traced);
    const socket = await RawSocket.handshaken(a.url);
    const traceparent = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`;
    socket.send(
      `${JSON.stringify({ type: 1, invocationId: '1', target: 'Echo', arguments: ['x'], headers: { traceparent, tracestate: 'v=1' } })}${RS}`,
    );
    expect(await socket.nextNonPing()).toMatchObject({ type: 3, invocationId: '1', result: 'x' });
    socket.ws.close();
    const span = await spanEnded('TestHub/Echo');
    expect(span.spanContext().traceId).toBe('1'.repeat(32));
    expect(span.parentSpanContext?.spanId).toBe('2'.repeat(16));
    expect(span.parentSpanContext?.isRemote).toBe(true);
    expect(span.spanContext().traceState?.serialize()).toBe('v=1');
  });

  it('tracing - a hub context send from an HTTP handler carries its active span to the other server', async () => {
    const bus = new MemoryBus();
    const a = await node(new MemoryDriver({ bus }), 'a', traced);
    const b = await node(new MemoryDriver({ bus }), 'b', traced);
    const bob = await client(b);
    const bobId = await bob.invoke<string>('GetConnectionId');
    exporter.reset();

    const received = nextCall(bob, 'ReceiveMessage');
    // What an HTTP server's instrumentation does around a handler: its span is active while it runs.
    await tracer.startActiveSpan('POST /notify', { kind: SpanKind.SERVER }, async (request) => {
      await a.hubs.hubContext('/chat').client(bobId).send('ReceiveMessage', 'api', 'notified');
      request.end();
    });
    expect(await received).toEqual(['api', 'notified']);
    const request = await spanEnded('POST /notify');
    const publish = await spanEnded('publish server');
    const process = await spanEnded('process server');
    expect(publish.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(process.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    expect(new Set([request, publish, process].map((s) => s.spanContext().traceId)).size).toBe(1);
  });

  it('tracing - without any tracer provider nothing breaks and envelopes carry no trace field', async () => {
    const bus = new MemoryBus();
    // Default options: the API is installed, no SDK registered a provider.
    const a = await node(new MemoryDriver({ bus }), 'a');
    const b = await node(new MemoryDriver({ bus }), 'b');
    const alice = await client(a);
    const bob = await client(b);
    const bobId = await bob.invoke<string>('GetConnectionId');
    const wire = tap(bus, a.manager.channels.server(b.manager.serverId));

    const received = nextCall(bob, 'ReceiveMessage');
    await alice.invoke('SendToConnection', bobId, 'alice', 'untraced');
    expect(await received).toEqual(['alice', 'untraced']);
    expect(wire).toHaveLength(1);
    const items = new Packr({ useRecords: false }).unpack(wire[0]!) as unknown[];
    // [v, origin, epoch, seq, kind, payloads, exclude, connectionIds]: nothing after the target connections.
    expect(items).toHaveLength(8);
    const envelope = decodeEnvelope(wire[0]!);
    expect(envelope.kind === 'invocation' && envelope.trace).toBeUndefined();
    await expect(alice.invoke('Fail')).rejects.toThrow();
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('tracing - an envelope with a malformed trace field still reaches its client, and is counted', async () => {
    const bus = new MemoryBus();
    const b = await node(new MemoryDriver({ bus }), 'b', traced);
    const bob = await client(b);
    const frame = new TextEncoder().encode(
      `${JSON.stringify({ type: 1, target: 'ReceiveMessage', arguments: ['x', 'kept'] })}${RS}`,
    );
    const forged = new Packr({ useRecords: false }).pack([
      1,
      'forger',
      'e',
      1,
      1,
      { json: frame },
      null,
      null,
      null,
      null,
      null,
      '00-garbage',
      42,
    ]);
    const received = nextCall(bob, 'ReceiveMessage');
    bus.publish(b.manager.channels.all, forged);
    expect(await received).toEqual(['x', 'kept']);
    expect(b.manager.stats.malformedTraceContexts).toBe(1);
    expect(b.manager.stats.malformed).toBe(0);
    expect((await spanEnded('process all')).parentSpanContext).toBeUndefined();
  });
});
