// For backplane's own packages (drivers, the hub server, testkit, benchmarks): the wire format, channel
// names, ids and the reconnect backoff. Not covered by semver: it changes whenever the packages change
// together. Applications use the main entry.

// Channels (docs/protocol.md#channels)
export type { ChannelTarget } from './channels.js';
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
  ProbeBody,
  ReplyBody,
  ReplyOutcome,
  RequestBody,
} from './envelope.js';
export { ENVELOPE_VERSION } from './envelope.js';
export { decodeEnvelope, encodeEnvelope } from './envelope-codec.js';
// Ids
export { createConnectionId, ownerOfConnection } from './ids.js';

// Reconnect backoff (drivers)
export { backoffDelay } from './resilience/backoff.js';
