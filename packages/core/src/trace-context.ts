/**
 * The W3C Trace Context of a send, as an invocation envelope carries it (docs/protocol.md): the sender's
 * publish span, so the receiving server's span joins the same trace.
 */
export interface TraceContext {
  /** `{version}-{trace-id}-{parent-id}-{trace-flags}` in lower-case hex, e.g. `00-4bf9…-00f0…-01`. */
  readonly traceparent: string;
  /** The vendors' entries (`key=value,…`), when the span context has any; at most 512 characters. */
  readonly tracestate?: string;
}

/**
 * The longest `traceparent` and `tracestate` accepted, in characters. A version-00 `traceparent` is 55;
 * later versions may append fields. 512 is what W3C asks every hop to pass on for `tracestate`.
 */
export const MAX_TRACE_FIELD_LENGTH = 512;

// version - trace-id - parent-id - flags, then the end (version 00) or more fields (later versions).
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(?:$|-)/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/**
 * Whether `value` is a `traceparent` W3C Trace Context lets a receiver use: the four fields in lower-case
 * hex, a version other than `ff`, ids that are not all zeros, nothing after the flags in version 00.
 */
export function isTraceparent(value: unknown): value is string {
  if (typeof value !== 'string' || value.length < 55 || value.length > MAX_TRACE_FIELD_LENGTH) return false;
  if (!TRACEPARENT.test(value) || value.startsWith('ff')) return false;
  if (value.startsWith('00') && value.length !== 55) return false;
  return !value.startsWith(ZERO_TRACE_ID, 3) && !value.startsWith(ZERO_SPAN_ID, 36);
}

/** Whether `value` is a `tracestate` to pass on: a non-empty string of at most 512 characters. */
export function isTracestate(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TRACE_FIELD_LENGTH;
}

/**
 * The trace context of an envelope's two trace fields, `undefined` when it has none. Fields that are there
 * but malformed are reported to `malformed` and left out (a valid `traceparent` is kept when only the
 * `tracestate` is wrong): a trace context is never a reason to drop a message.
 */
export function readTraceContext(
  traceparent: unknown,
  tracestate: unknown,
  malformed: (reason: string) => void,
): TraceContext | undefined {
  if (traceparent == null) {
    if (tracestate != null) malformed('tracestate without traceparent');
    return undefined;
  }
  if (!isTraceparent(traceparent)) {
    malformed('traceparent is not a W3C traceparent');
    return undefined;
  }
  if (tracestate == null) return { traceparent };
  if (isTracestate(tracestate)) return { traceparent, tracestate };
  malformed('tracestate is not a string of 1 to 512 characters');
  return { traceparent };
}
