import type { Channels } from './channels.js';
import type { Envelope, InvocationBody } from './envelope.js';
import type { OtelAttributes, OtelSpan, OtelTracer } from './otel-api.js';
import type { BackplaneStats } from './stats.js';
import type { TraceContext } from './trace-context.js';
import { recordFailure, remoteContext, type Tracing, traceContextOf } from './tracing.js';

/** What a channel serves, in span names: low cardinality (the group, user or server is an attribute). */
type DestinationKind = 'all' | 'group' | 'user' | 'server';

/** Span names per destination kind, made once (no string per message). */
const PUBLISH_NAMES = {
  all: 'publish all',
  group: 'publish group',
  user: 'publish user',
  server: 'publish server',
  other: 'publish other',
} as const;
const PROCESS_NAMES = {
  all: 'process all',
  group: 'process group',
  user: 'process user',
  server: 'process server',
  other: 'process other',
} as const;

export interface BackplaneSpansOptions {
  /** `messaging.system`: the driver's name. */
  readonly system: string;
  readonly channels: Channels;
  /** This server's id (`messaging.client.id`). */
  readonly serverId: string;
  /** Read for the number of deliveries of a received message. */
  readonly stats: BackplaneStats;
}

/**
 * The backplane's spans (docs/operations.md#tracing): a producer span per published invocation, whose
 * context the envelope carries, and a consumer span per received invocation, its child on the receiving
 * server. Only invocations are traced: group commands, acks, completions, probes and heartbeats are not.
 */
export class BackplaneSpans {
  readonly #api: Tracing['api'];
  readonly #tracer: OtelTracer;
  readonly #system: string;
  readonly #serverId: string;
  readonly #stats: BackplaneStats;
  readonly #all: string;
  readonly #prefixes: ReadonlyArray<readonly [DestinationKind, string, string]>;

  constructor(tracing: Tracing, options: BackplaneSpansOptions) {
    this.#api = tracing.api;
    this.#tracer = tracing.tracer;
    this.#system = options.system;
    this.#serverId = options.serverId;
    this.#stats = options.stats;
    const { channels } = options;
    this.#all = channels.all;
    // [kind, channel name prefix, destination template]
    this.#prefixes = [
      ['group', channels.group(''), channels.group('{group}')],
      ['user', channels.user(''), channels.user('{user}')],
      ['server', channels.server(''), channels.server('{server}')],
    ];
  }

  /**
   * Publishes an invocation with `send` inside its producer span, a child of the active context: the
   * envelope carries the span's trace context, and the span ends when the publish settles.
   */
  publish<T>(
    channel: string,
    body: InvocationBody,
    send: (traced: InvocationBody) => Promise<T>,
  ): Promise<T> {
    const span = this.startPublish(channel);
    const trace = this.traceContext(span);
    // No tracing SDK (and no sampled parent): nothing to record or carry, so no work per publish.
    if (!trace) {
      span.end();
      return send(body);
    }
    let sent: Promise<T>;
    try {
      sent = send({ ...body, trace });
    } catch (error) {
      this.failPublish(span, error);
      throw error;
    }
    this.endPublish(span, sent);
    return sent;
  }

  /**
   * Starts the producer span of a publish on `channel`, a child of the active context. Its attributes are
   * set once the span is known to record, so a process without a tracing SDK allocates none of them (a
   * sampler therefore decides on the span's name and kind, not on its attributes).
   */
  startPublish(channel: string): OtelSpan {
    const api = this.#api;
    const [kind, template] = this.#destination(channel);
    const span = this.#tracer.startSpan(
      PUBLISH_NAMES[kind],
      { kind: api.SpanKind.PRODUCER },
      api.context.active(),
    );
    if (span.isRecording())
      span.setAttributes({
        'messaging.system': this.#system,
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'publish',
        'messaging.destination.name': channel,
        'messaging.destination.template': template,
        'messaging.client.id': this.#serverId,
      });
    return span;
  }

  /** Ends a producer span when its publish settles (failed: status ERROR). */
  endPublish(span: OtelSpan, sent: Promise<unknown>): void {
    sent.then(
      () => span.end(),
      (error: unknown) => this.failPublish(span, error),
    );
  }

  /** Ends a producer span whose publish failed. */
  failPublish(span: OtelSpan, error: unknown): void {
    recordFailure(this.#api, span, error);
    span.end();
  }

  /** The trace context to carry for a producer span (`undefined`: none to carry, e.g. no tracing SDK). */
  traceContext(span: OtelSpan): TraceContext | undefined {
    return traceContextOf(this.#api, span);
  }

  /**
   * Runs `dispatch` (the local delivery of a received invocation) inside its consumer span: a child of the
   * sender's publish span when the envelope carries its context, else a new trace.
   * @param replayed read back from the durable log (a message missed live)
   */
  process(
    channel: string,
    envelope: Envelope & InvocationBody,
    replayed: boolean,
    dispatch: () => void,
  ): void {
    const api = this.#api;
    const [kind, template] = this.#destination(channel);
    const parent = envelope.trace ? remoteContext(api, envelope.trace) : api.ROOT_CONTEXT;
    const span = this.#tracer.startSpan(PROCESS_NAMES[kind], { kind: api.SpanKind.CONSUMER }, parent);
    // No tracing SDK and no trace carried: nothing to record, so no work per message.
    if (!span.isRecording() && !envelope.trace) {
      span.end();
      dispatch();
      return;
    }
    if (span.isRecording()) {
      const attributes: OtelAttributes = {
        'messaging.system': this.#system,
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': channel,
        'messaging.destination.template': template,
        'messaging.client.id': this.#serverId,
        'backplane.origin': envelope.origin,
      };
      if (replayed) attributes['backplane.replayed'] = true;
      span.setAttributes(attributes);
    }
    const before = this.#stats.delivered;
    try {
      dispatch();
    } catch (error) {
      recordFailure(api, span, error);
      throw error;
    } finally {
      if (span.isRecording()) span.setAttribute('backplane.deliveries', this.#stats.delivered - before);
      span.end();
    }
  }

  #destination(channel: string): readonly [DestinationKind | 'other', string] {
    if (channel === this.#all) return ['all', channel];
    for (const [kind, prefix, template] of this.#prefixes)
      if (channel.startsWith(prefix)) return [kind, template];
    return ['other', channel];
  }
}
