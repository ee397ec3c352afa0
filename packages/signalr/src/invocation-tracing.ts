import {
  headerTraceContext,
  isValidSpanContext,
  type OtelContext,
  type OtelSpan,
  type OtelSpanOptions,
  type OtelTracer,
  recordFailure,
  remoteContext,
  type Tracing,
} from '@backplane/core/internal';
import { type InvocationMessage, MessageType, type StreamInvocationMessage } from '@backplane/hub-protocol';
import type { HubConnectionContext } from './hub-connection-context.js';
import { type HubMethod, isAsyncIterable } from './hub-methods.js';
import type { TransportKind } from './transport-sender.js';

/** The instrumentation scope of the hub server's spans. */
export const SIGNALR_TRACER = '@backplane/signalr';

/** `signalr.transport` values (OpenTelemetry's SignalR semantic conventions). */
const TRANSPORT: Record<TransportKind, string> = {
  WebSockets: 'web_sockets',
  ServerSentEvents: 'server_sent_events',
  LongPolling: 'long_polling',
};

/**
 * A server span per hub method call of one hub (docs/operations.md#tracing), named `{hub}/{method}` with
 * OpenTelemetry's RPC attributes (`rpc.system` "signalr", `rpc.service`, `rpc.method`), as ASP.NET Core
 * SignalR names its own. The method runs with the span active, so what it sends (a producer span on the
 * backplane) and any span it starts are its children. A span's parent is the trace context the client put
 * in the invocation's headers (`traceparent`, `tracestate`), else none: a new trace, linked to the span
 * active when the message arrived (a long-lived HTTP request's, for WebSockets, is no parent for every call
 * of a connection). A stream method's span lasts until its stream ends.
 */
export class InvocationTracing {
  readonly #api: Tracing['api'];
  readonly #tracer: OtelTracer;
  readonly #hub: string;

  /** @param hub `rpc.service`: the hub class's name */
  constructor(tracing: Tracing, hub: string) {
    this.#api = tracing.api;
    this.#tracer = tracing.tracer;
    this.#hub = hub;
  }

  /**
   * Runs `call` (the method, through its filters) inside its span; returns what `call` returned, a stream
   * method's iterable wrapped so that the span ends with the stream.
   */
  invoke(
    connection: HubConnectionContext,
    method: HubMethod,
    message: InvocationMessage | StreamInvocationMessage,
    call: () => unknown,
  ): unknown {
    const api = this.#api;
    const remote = headerTraceContext(message.headers);
    const parent = remote ? remoteContext(api, remote) : api.ROOT_CONTEXT;
    // Attributes are set once the span is known to be real, so a process without a tracing SDK allocates
    // none of them per call (a sampler therefore decides on the name and kind, not on the attributes).
    const options: OtelSpanOptions = { kind: api.SpanKind.SERVER };
    if (!remote) {
      const ambient = api.trace.getSpan(api.context.active())?.spanContext();
      if (ambient && isValidSpanContext(api, ambient)) options.links = [{ context: ambient }];
    }
    const span = this.#tracer.startSpan(`${this.#hub}/${method.name}`, options, parent);
    // No tracing SDK: nothing to record and no context worth making active.
    if (!isValidSpanContext(api, span.spanContext())) {
      span.end();
      return call();
    }
    if (span.isRecording())
      span.setAttributes({
        'rpc.system': 'signalr',
        'rpc.service': this.#hub,
        'rpc.method': method.name,
        'signalr.transport': TRANSPORT[connection.transport.kind],
        'signalr.connection.id': connection.connectionId,
      });
    const context = api.trace.setSpan(parent, span);
    const streaming = message.type === MessageType.StreamInvocation;
    let result: unknown;
    try {
      result = api.context.with(context, call);
    } catch (error) {
      this.#fail(span, error);
      throw error;
    }
    if (!isPromiseLike(result)) return this.#returned(span, context, result, streaming);
    return Promise.resolve(result).then(
      (value) => this.#returned(span, context, value, streaming),
      (error: unknown) => {
        this.#fail(span, error);
        throw error;
      },
    );
  }

  #returned(span: OtelSpan, context: OtelContext, value: unknown, streaming: boolean): unknown {
    if (streaming && isAsyncIterable(value)) return this.#traced(span, context, value);
    span.end();
    return value;
  }

  #fail(span: OtelSpan, error: unknown): void {
    recordFailure(this.#api, span, error);
    span.end();
  }

  /**
   * `source`, read inside the span's context (a generator's body runs as `next()` is called), the span
   * ending when the stream does: done, failed, or stopped by the dispatcher (`return`, on cancel or close).
   */
  #traced(span: OtelSpan, context: OtelContext, source: AsyncIterable<unknown>): AsyncIterable<unknown> {
    const api = this.#api;
    let open = true;
    const end = (failed: boolean, error?: unknown) => {
      if (!open) return;
      open = false;
      if (failed) this.#fail(span, error);
      else span.end();
    };
    return {
      [Symbol.asyncIterator]: () => {
        const iterator = api.context.with(context, () => source[Symbol.asyncIterator]());
        return {
          next: () =>
            api.context
              .with(context, () => iterator.next())
              .then(
                (step) => {
                  if (step.done) end(false);
                  return step;
                },
                (error: unknown) => {
                  end(true, error);
                  throw error;
                },
              ),
          return: (value?: unknown) => {
            end(false);
            return iterator.return?.(value) ?? Promise.resolve({ done: true as const, value });
          },
        };
      },
    };
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}
