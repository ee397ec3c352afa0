/**
 * The part of `@opentelemetry/api` backplane uses, declared here rather than imported, even as types: the
 * package is an optional peer dependency, and an app without it must still type-check against every
 * declaration file of backplane's. The real module is assignable to {@link OpenTelemetryApi}
 * (`test/tracing.test.ts` checks it at compile time).
 */

export interface OtelContext {
  getValue(key: symbol): unknown;
  setValue(key: symbol, value: unknown): OtelContext;
  deleteValue(key: symbol): OtelContext;
}

export interface OtelTraceState {
  set(key: string, value: string): OtelTraceState;
  unset(key: string): OtelTraceState;
  get(key: string): string | undefined;
  serialize(): string;
}

export interface OtelSpanContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  isRemote?: boolean;
  traceState?: OtelTraceState;
}

export type OtelAttributeValue = string | number | boolean;

export type OtelAttributes = Record<string, OtelAttributeValue | undefined>;

export interface OtelSpanOptions {
  kind?: number;
  attributes?: OtelAttributes;
  links?: Array<{ context: OtelSpanContext }>;
}

export interface OtelSpan {
  spanContext(): OtelSpanContext;
  isRecording(): boolean;
  setAttribute(key: string, value: OtelAttributeValue): this;
  setAttributes(attributes: OtelAttributes): this;
  setStatus(status: { code: number; message?: string }): this;
  recordException(exception: Error): void;
  end(): void;
}

export interface OtelTracer {
  startSpan(name: string, options?: OtelSpanOptions, context?: OtelContext): OtelSpan;
}

export interface OtelTracerProvider {
  getTracer(name: string, version?: string): OtelTracer;
}

/** The `@opentelemetry/api` module, as far as backplane uses it. */
export interface OpenTelemetryApi {
  readonly trace: {
    getTracerProvider(): OtelTracerProvider;
    getSpan(context: OtelContext): OtelSpan | undefined;
    setSpan(context: OtelContext, span: OtelSpan): OtelContext;
    setSpanContext(context: OtelContext, spanContext: OtelSpanContext): OtelContext;
  };
  readonly context: {
    active(): OtelContext;
    with<F extends () => ReturnType<F>>(context: OtelContext, fn: F): ReturnType<F>;
  };
  readonly ROOT_CONTEXT: OtelContext;
  /** The span context of every span started without a tracing SDK and without a valid parent. */
  readonly INVALID_SPAN_CONTEXT: OtelSpanContext;
  readonly SpanKind: { readonly SERVER: number; readonly PRODUCER: number; readonly CONSUMER: number };
  readonly SpanStatusCode: { readonly ERROR: number };
  isSpanContextValid(spanContext: OtelSpanContext): boolean;
  createTraceState(raw?: string): OtelTraceState;
}
