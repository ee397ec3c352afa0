import { createRequire } from 'node:module';
import { InvalidArgumentError } from './errors.js';
import type {
  OpenTelemetryApi,
  OtelContext,
  OtelSpan,
  OtelSpanContext,
  OtelTracer,
  OtelTracerProvider,
} from './otel-api.js';
import { isTraceparent, isTracestate, type TraceContext } from './trace-context.js';
import type { TracingOptions } from './tracing-options.js';

/** The instrumentation scope of core's spans (publish and process). */
export const CORE_TRACER = '@backplane/core';

/** The API and the tracer one component traces with; `undefined` where tracing is off. */
export interface Tracing {
  readonly api: OpenTelemetryApi;
  readonly tracer: OtelTracer;
}

/** `null`: looked for and not there. */
let loaded: OpenTelemetryApi | null | undefined;

/** `@opentelemetry/api` as installed next to this package, loaded once per process; `undefined` when absent. */
export function loadOpenTelemetry(): OpenTelemetryApi | undefined {
  if (loaded === undefined) {
    try {
      // Synchronous, so a component knows at construction whether it traces (no send goes untraced while a
      // dynamic import is pending). The API keeps its state in one global, so this copy and the app's
      // (CommonJS or ESM) share the registered provider and context manager.
      loaded = createRequire(import.meta.url)('@opentelemetry/api') as OpenTelemetryApi;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/**
 * What a component traces with: `undefined` when `option` is `false` or `@opentelemetry/api` is not
 * installed. Throws `InvalidArgumentError` when a `tracerProvider` was given and the API cannot be loaded.
 * @param scope the instrumentation scope (the package name), e.g. `@backplane/core`
 */
export function resolveTracing(
  option: TracingOptions | false | undefined,
  scope: string,
  load: () => OpenTelemetryApi | undefined = loadOpenTelemetry,
): Tracing | undefined {
  if (option === false) return undefined;
  const api = load();
  if (!api) {
    if (option?.tracerProvider)
      throw new InvalidArgumentError(
        'tracing.tracerProvider was given, but @opentelemetry/api could not be loaded: install it next to @backplane/core.',
      );
    return undefined;
  }
  const provider =
    (option?.tracerProvider as OtelTracerProvider | undefined) ?? api.trace.getTracerProvider();
  return { api, tracer: provider.getTracer(scope) };
}

/**
 * The trace context to carry for `span`: `undefined` when its span context is invalid (no tracing SDK),
 * so nothing is written then. A span that is not recorded (sampled out) still has a valid context, which
 * is carried with its flags so the receiver follows the same sampling decision.
 */
export function traceContextOf(api: OpenTelemetryApi, span: OtelSpan): TraceContext | undefined {
  const context = span.spanContext();
  if (!isValidSpanContext(api, context)) return undefined;
  const flags = context.traceFlags === 1 ? '01' : (0x100 | (context.traceFlags & 0xff)).toString(16).slice(1);
  const traceparent = `00-${context.traceId}-${context.spanId}-${flags}`;
  const tracestate = context.traceState?.serialize();
  return isTracestate(tracestate) ? { traceparent, tracestate } : { traceparent };
}

/**
 * Whether a span context is valid, the no-SDK case first: a span started without an SDK or a valid parent
 * has the API's invalid span context itself, told apart without the API's id checks.
 */
export function isValidSpanContext(api: OpenTelemetryApi, context: OtelSpanContext): boolean {
  return context !== api.INVALID_SPAN_CONTEXT && api.isSpanContextValid(context);
}

/** A context whose span is the remote one `trace` names (its parent for a span started in it). */
export function remoteContext(api: OpenTelemetryApi, trace: TraceContext): OtelContext {
  const { traceparent, tracestate } = trace;
  const spanContext: OtelSpanContext = {
    traceId: traceparent.slice(3, 35),
    spanId: traceparent.slice(36, 52),
    traceFlags: Number.parseInt(traceparent.slice(53, 55), 16),
    isRemote: true,
  };
  if (tracestate !== undefined) spanContext.traceState = api.createTraceState(tracestate);
  return api.trace.setSpanContext(api.ROOT_CONTEXT, spanContext);
}

/**
 * The trace context of message headers (`traceparent`, `tracestate`, as a SignalR client's invocation
 * carries them), `undefined` when they hold none or a malformed one.
 */
export function headerTraceContext(
  headers: Readonly<Record<string, string>> | undefined,
): TraceContext | undefined {
  const traceparent = headers?.traceparent;
  if (!isTraceparent(traceparent)) return undefined;
  const tracestate = headers?.tracestate;
  return isTracestate(tracestate) ? { traceparent, tracestate } : { traceparent };
}

/** Marks `span` failed with `error`: status ERROR, `error.type`, and the exception as an event. */
export function recordFailure(api: OpenTelemetryApi, span: OtelSpan, error: unknown): void {
  if (!span.isRecording()) return;
  const type = error instanceof Error ? error.constructor.name || error.name : '_OTHER';
  span.setAttribute('error.type', type);
  if (error instanceof Error) span.recordException(error);
  span.setStatus({
    code: api.SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}
