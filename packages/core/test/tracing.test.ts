import * as otelApi from '@opentelemetry/api';
import { context, createTraceState, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  ParentBasedSampler,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { Packr } from 'msgpackr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ENVELOPE_VERSION } from '../src/envelope.js';
import { decodeEnvelope, encodeEnvelope } from '../src/envelope-codec.js';
import {
  HubContext,
  type HubContextOptions,
  HubLifetimeManager,
  type HubLifetimeManagerOptions,
  InvalidArgumentError,
} from '../src/index.js';
import type { OpenTelemetryApi } from '../src/otel-api.js';
import { resolveTracing } from '../src/tracing.js';

// The real module fits the part of it that core declares instead of importing (a compile-time check).
const realApi: OpenTelemetryApi = otelApi;

import { ControllableDriver, TestBus } from './controllable-driver.js';
import { json, quiet, recordingConnection, settle, until } from './recording-connection.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer('test');
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  context.disable();
});

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((m) => m.close()));
  exporter.reset();
});

function managerOn(bus: TestBus, options: Partial<HubLifetimeManagerOptions> = {}) {
  const driver = new ControllableDriver(bus);
  const manager = new HubLifetimeManager({
    driver,
    hub: 't',
    protocols: [json],
    logger: quiet,
    liveness: false,
    tracing: { tracerProvider: provider },
    ...options,
  });
  open.push(manager);
  return { manager, driver };
}

/** A manager holding one recording connection in group `g`. */
async function receiverOn(bus: TestBus, options: Partial<HubLifetimeManagerOptions> = {}) {
  const { manager, driver } = managerOn(bus, options);
  await manager.start();
  const connection = recordingConnection(manager.createConnectionId());
  await manager.onConnected(connection);
  await manager.addToGroup(connection.connectionId, 'g');
  return { manager, driver, connection };
}

/** Every envelope published on `bus` to `channel`, as raw bytes. */
async function tap(bus: TestBus, channel: string): Promise<Uint8Array[]> {
  const seen: Uint8Array[] = [];
  const spy = new ControllableDriver(bus);
  spy.setMessageHandler((_channel, payload) => seen.push(payload));
  await spy.connect();
  await spy.subscribe(channel);
  open.push(spy);
  return seen;
}

function finished(name: string): ReadableSpan {
  const span = exporter.getFinishedSpans().find((s) => s.name === name);
  if (!span)
    throw new Error(`no finished span '${name}' in ${exporter.getFinishedSpans().map((s) => s.name)}`);
  return span;
}

async function spanEnded(name: string): Promise<ReadableSpan> {
  await until(() => exporter.getFinishedSpans().some((s) => s.name === name), `span '${name}'`);
  return finished(name);
}

const unpackr = new Packr({ useRecords: false, mapsAsObjects: true });
const frame = (word: string) => json.writeMessage({ type: 1, target: 'Say', arguments: [word] });

describe('tracing', () => {
  it('tracing - a send in an active span is a producer span, and the receiving server processes it in a child span', async () => {
    const bus = new TestBus();
    const b = await receiverOn(bus);
    const { manager: a } = managerOn(bus);
    await a.start();
    const request = tracer.startSpan('request');
    await context.with(trace.setSpan(context.active(), request), () => a.sendGroup('g', 'Say', ['hi']));
    request.end();
    await until(() => b.connection.words.length === 1, 'the delivery');

    const publish = await spanEnded('publish group');
    const process = await spanEnded('process group');
    const traceId = request.spanContext().traceId;
    expect(publish.kind).toBe(SpanKind.PRODUCER);
    expect(publish.spanContext().traceId).toBe(traceId);
    expect(publish.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(publish.attributes).toEqual({
      'messaging.system': 'controllable',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.destination.name': 'backplane:t:group:g',
      'messaging.destination.template': 'backplane:t:group:{group}',
      'messaging.client.id': a.serverId,
    });
    expect(process.kind).toBe(SpanKind.CONSUMER);
    expect(process.spanContext().traceId).toBe(traceId);
    expect(process.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    expect(process.parentSpanContext?.isRemote).toBe(true);
    expect(process.attributes).toEqual({
      'messaging.system': 'controllable',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'backplane:t:group:g',
      'messaging.destination.template': 'backplane:t:group:{group}',
      'messaging.client.id': b.manager.serverId,
      'backplane.origin': a.serverId,
      'backplane.deliveries': 1,
    });
  });

  it('tracing - the envelope carries the producer span as traceparent, with its tracestate', async () => {
    const bus = new TestBus();
    const b = await receiverOn(bus);
    const { manager: a } = managerOn(bus);
    await a.start();
    const wire = await tap(bus, a.channels.all);
    // A request that arrived with a trace context (as an HTTP server's propagator extracts it).
    const remote = trace.setSpanContext(context.active(), {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
      isRemote: true,
      traceState: createTraceState('vendor=value'),
    });
    await context.with(remote, () => a.sendAll('Say', ['hi']));
    await until(() => b.connection.words.length === 1 && wire.length === 1, 'the delivery');

    const publish = await spanEnded('publish all');
    const envelope = decodeEnvelope(wire[0]!);
    expect(envelope.kind === 'invocation' && envelope.trace).toEqual({
      traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${publish.spanContext().spanId}-01`,
      tracestate: 'vendor=value',
    });
    const process = await spanEnded('process all');
    expect(process.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(process.parentSpanContext?.traceState?.serialize()).toBe('vendor=value');
  });

  it('tracing - without a tracer provider nothing breaks and no trace field is written', async () => {
    const bus = new TestBus();
    // The API is installed but no SDK registered a global provider: the default.
    const b = await receiverOn(bus, { tracing: {} });
    const { manager: a } = managerOn(bus, { tracing: {} });
    await a.start();
    const wire = await tap(bus, a.channels.group('g'));
    await a.sendGroup('g', 'Say', ['hi']);
    await until(() => b.connection.words.length === 1 && wire.length === 1, 'the delivery');

    const expected = encodeEnvelope({
      v: ENVELOPE_VERSION,
      origin: a.serverId,
      epoch: a.epoch,
      seq: 1,
      kind: 'invocation',
      payloads: new Map([['json', frame('hi')]]),
    });
    expect(Buffer.from(wire[0]!).toString('hex')).toBe(Buffer.from(expected).toString('hex'));
    expect((unpackr.unpack(wire[0]!) as unknown[]).length).toBe(6);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('tracing - a span of another provider still crosses servers when the API has no SDK but a valid context', async () => {
    // The API propagates a valid context without an SDK (a no-op span keeps its parent's context): a
    // gateway that only forwards a trace context still joins the trace.
    const bus = new TestBus();
    const b = await receiverOn(bus, { tracing: {} });
    const { manager: a } = managerOn(bus, { tracing: {} });
    await a.start();
    const wire = await tap(bus, a.channels.all);
    const incoming = trace.setSpanContext(context.active(), {
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      traceFlags: 1,
      isRemote: true,
    });
    await context.with(incoming, () => a.sendAll('Say', ['hi']));
    await until(() => b.connection.words.length === 1 && wire.length === 1, 'the delivery');
    const envelope = decodeEnvelope(wire[0]!);
    expect(envelope.kind === 'invocation' && envelope.trace).toEqual({
      traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
    });
  });

  it('tracing - with tracing false nothing is traced and nothing is written, even in an active span', async () => {
    const bus = new TestBus();
    const b = await receiverOn(bus, { tracing: false });
    const { manager: a } = managerOn(bus, { tracing: false });
    await a.start();
    const wire = await tap(bus, a.channels.all);
    const request = tracer.startSpan('request');
    await context.with(trace.setSpan(context.active(), request), () => a.sendAll('Say', ['hi']));
    request.end();
    await until(() => b.connection.words.length === 1 && wire.length === 1, 'the delivery');
    expect((unpackr.unpack(wire[0]!) as unknown[]).length).toBe(6);
    await settle();
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['request']);
  });

  const malformed: Array<[string, unknown, unknown]> = [
    ['a traceparent that is not a string', 42, null],
    ['a garbled traceparent', 'not-a-traceparent', null],
    ['upper-case hex', `00-${'A'.repeat(32)}-${'b'.repeat(16)}-01`, null],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${'b'.repeat(16)}-01`, null],
    ['version ff', `ff-${'a'.repeat(32)}-${'b'.repeat(16)}-01`, null],
    ['a tracestate without traceparent', null, 'vendor=value'],
  ];
  for (const [what, traceparent, tracestate] of malformed) {
    it(`tracing - an envelope with ${what} is delivered, its trace context ignored and counted`, async () => {
      const bus = new TestBus();
      const b = await receiverOn(bus);
      const raw = new ControllableDriver(bus);
      await raw.connect();
      open.push(raw);
      const packr = new Packr({ useRecords: false });
      const bytes = packr.pack([
        1,
        'X',
        'e',
        1,
        1,
        { json: frame('still here') },
        ...Array(5).fill(null),
        traceparent,
        tracestate,
      ]);
      await raw.raw(b.manager.channels.all, bytes);
      await until(() => b.connection.words.length === 1, 'the delivery');
      expect(b.connection.words).toEqual(['still here']);
      expect(b.manager.stats.malformedTraceContexts).toBe(1);
      expect(b.manager.stats.malformed).toBe(0);
      // Processed all the same, in a trace of its own.
      const process = await spanEnded('process all');
      expect(process.parentSpanContext).toBeUndefined();
    });
  }

  it('tracing - a malformed trace context is counted with tracing off too', async () => {
    const bus = new TestBus();
    const b = await receiverOn(bus, { tracing: false });
    const raw = new ControllableDriver(bus);
    await raw.connect();
    open.push(raw);
    const packr = new Packr({ useRecords: false });
    await raw.raw(
      b.manager.channels.all,
      packr.pack([1, 'X', 'e', 1, 1, { json: frame('kept') }, null, null, null, null, null, 'garbage']),
    );
    await until(() => b.connection.words.length === 1, 'the delivery');
    expect(b.manager.stats.malformedTraceContexts).toBe(1);
  });

  it('tracing - a valid traceparent with a malformed tracestate keeps the traceparent', async () => {
    const bus = new TestBus();
    const b = await receiverOn(bus);
    const raw = new ControllableDriver(bus);
    await raw.connect();
    open.push(raw);
    const traceparent = `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01`;
    const packr = new Packr({ useRecords: false });
    await raw.raw(
      b.manager.channels.all,
      packr.pack([1, 'X', 'e', 1, 1, { json: frame('kept') }, null, null, null, null, null, traceparent, 7]),
    );
    await until(() => b.connection.words.length === 1, 'the delivery');
    expect(b.manager.stats.malformedTraceContexts).toBe(1);
    const process = await spanEnded('process all');
    expect(process.spanContext().traceId).toBe('c'.repeat(32));
    expect(process.parentSpanContext?.spanId).toBe('d'.repeat(16));
  });

  it('tracing - a hub context send carries the active span to the hub servers', async () => {
    const bus = new TestBus();
    const b = await receiverOn(bus);
    const hubContext = new HubContext({
      driver: new ControllableDriver(bus),
      hub: 't',
      protocols: [json],
      tracing: { tracerProvider: provider },
    } satisfies HubContextOptions);
    open.push(hubContext);
    await tracer.startActiveSpan('POST /notify', async (request) => {
      await hubContext.sendGroup('g', 'Say', ['from a job']);
      request.end();
    });
    await until(() => b.connection.words.length === 1, 'the delivery');
    const request = finished('POST /notify');
    const publish = await spanEnded('publish group');
    const process = await spanEnded('process group');
    expect(publish.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(publish.attributes['messaging.client.id']).toBe(hubContext.serverId);
    expect(process.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    expect(new Set([request, publish, process].map((s) => s.spanContext().traceId)).size).toBe(1);
  });

  it('tracing - a publish the broker refuses ends its producer span with an error', async () => {
    const bus = new TestBus();
    const { manager: a, driver } = managerOn(bus, { outbox: false });
    await a.start();
    driver.down();
    await expect(a.sendAll('Say', ['lost'])).rejects.toThrow();
    const publish = await spanEnded('publish all');
    expect(publish.status.code).toBe(SpanStatusCode.ERROR);
    expect(publish.attributes['error.type']).toBe('BrokerError');
  });

  it("tracing - a sampled-out send carries its decision, and the receiver's process span follows it", async () => {
    const bus = new TestBus();
    const sampledExporter = new InMemorySpanExporter();
    const parentBased = new BasicTracerProvider({
      sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
      spanProcessors: [new SimpleSpanProcessor(sampledExporter)],
    });
    const b = await receiverOn(bus, { tracing: { tracerProvider: parentBased } });
    const { manager: a } = managerOn(bus, { tracing: { tracerProvider: parentBased } });
    await a.start();
    const wire = await tap(bus, a.channels.all);
    const notSampled = trace.setSpanContext(context.active(), {
      traceId: 'e'.repeat(32),
      spanId: 'f'.repeat(16),
      traceFlags: 0,
      isRemote: true,
    });
    await context.with(notSampled, () => a.sendAll('Say', ['hi']));
    await until(() => b.connection.words.length === 1 && wire.length === 1, 'the delivery');
    const envelope = decodeEnvelope(wire[0]!);
    expect(envelope.kind === 'invocation' && envelope.trace?.traceparent).toMatch(
      new RegExp(`^00-${'e'.repeat(32)}-[0-9a-f]{16}-00$`),
    );
    await settle();
    expect(sampledExporter.getFinishedSpans()).toEqual([]);
  });

  it('tracing - without @opentelemetry/api nothing is traced; a tracer provider without it is refused', () => {
    const absent = () => undefined;
    expect(resolveTracing(undefined, 'x', absent)).toBeUndefined();
    expect(resolveTracing({}, 'x', absent)).toBeUndefined();
    expect(() => resolveTracing({ tracerProvider: provider }, 'x', absent)).toThrow(InvalidArgumentError);
    expect(resolveTracing(false, 'x')).toBeUndefined();
    expect(resolveTracing(undefined, 'x')).toBeDefined();
    expect(resolveTracing({}, 'x', () => realApi)?.api).toBe(realApi);
  });
});
