// For backplane's own packages (drivers, the hub server, testkit, benchmarks): the wire format, channel
// names, ids, the reconnect backoff and the in-memory records of session stores. Not covered by semver: it changes whenever the packages change
// together. Applications use the main entry.

// Broker URLs: the pieces the drivers' URL parsers share
export type { UrlEndpoint, UrlProblem } from './broker-url.js';
export {
  decodeUrlPart,
  parseUrlHost,
  parseUrlQuery,
  parseUrlUserinfo,
  redactUrlPassword,
} from './broker-url.js';
// Channels (docs/protocol.md#channels)
export type { ChannelKind, ChannelTarget } from './channels.js';
export { Channels } from './channels.js';
// The envelope and its codec (docs/protocol.md)
export type {
  AckBody,
  CompletionBody,
  CompletionOutcome,
  Envelope,
  EnvelopeBody,
  EnvelopeHeader,
  EnvelopeKind,
  GroupAction,
  GroupCommandBody,
  InvocationBody,
  PresenceAnswerBody,
  PresenceQueryBody,
  PresenceQueryKind,
  ProbeBody,
  ReplyBody,
  ReplyOutcome,
  RequestBody,
} from './envelope.js';
export { ENVELOPE_VERSION } from './envelope.js';
export type { MalformedTraceHandler } from './envelope-codec.js';
export { decodeEnvelope, encodeEnvelope } from './envelope-codec.js';
// Session stores: records with a deadline, in memory (drivers' local copies)
export { ExpiringRecords, readDeadline, stampDeadline } from './expiring-records.js';
// Ids
export { createConnectionId, ownerOfConnection } from './ids.js';
// Tracing: loading `@opentelemetry/api` and the helpers the hub server's spans share with core's
export type {
  OpenTelemetryApi,
  OtelContext,
  OtelSpan,
  OtelSpanOptions,
  OtelTracer,
} from './otel-api.js';
// Reconnect backoff (drivers)
export { backoffDelay } from './resilience/backoff.js';
export type { TraceContext } from './trace-context.js';
export { isTraceparent, isTracestate, MAX_TRACE_FIELD_LENGTH } from './trace-context.js';
export type { Tracing } from './tracing.js';
export {
  headerTraceContext,
  isValidSpanContext,
  loadOpenTelemetry,
  recordFailure,
  remoteContext,
  resolveTracing,
  traceContextOf,
} from './tracing.js';
