// Lifetime manager and hub context
export type {
  GroupOptions,
  HubLifetimeManagerOptions,
  InvokeOptions,
  MissedMessages,
} from './manager-options.js';
export { HubLifetimeManager } from './hub-lifetime-manager.js';
export type { LocalConnection } from './local-connection.js';
export type { HubContextOptions } from './hub-context.js';
export { HubContext } from './hub-context.js';
export type { ResultType } from './client-results.js';
export type { BackplaneStats } from './stats.js';

// Driver contract (what drivers implement)
export type {
  DurableDriver,
  LogEntry,
  LogPosition,
  MessageHandler,
  Driver,
  DriverCapabilities,
  DriverState,
  DriverStateType,
} from './driver.js';
export { isDurableDriver, LOG_START } from './driver.js';
export { DriverBase } from './driver-base.js';

// Channels, ids and the envelope (the backplane wire format, docs/protocol.md)
export type { ChannelTarget } from './channels.js';
export { Channels } from './channels.js';
export { createConnectionId, ownerOfConnection } from './ids.js';
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
} from './envelope.js';
export { ENVELOPE_VERSION } from './envelope.js';
export { decodeEnvelope, encodeEnvelope } from './envelope-codec.js';

// Resilience (outage detection, outbox, gaps, reconnect backoff)
export type {
  BackplaneEvent,
  BackplaneEventType,
  OutboxPolicy,
  OverflowReason,
} from './resilience/events.js';
export type { LinkState } from './resilience/link-state.js';
export type { LivenessOptions } from './resilience/liveness.js';
export type { OutboxOptions } from './resilience/outbox.js';
export type { BackoffOptions } from './resilience/backoff.js';
export { backoffDelay } from './resilience/backoff.js';

// Logging
export type { Logger, LogLevel, LogLimits } from './logger.js';
export { boundedLogger, createConsoleLogger, DEFAULT_LOG_LIMITS } from './logger.js';

// Errors
export type { BackplaneErrorCode, LimitName } from './errors.js';
export {
  AckTimeoutError,
  BackplaneError,
  ClosedError,
  ConnectionDisconnectedError,
  ConnectionNotFoundError,
  DuplicateConnectionError,
  EnvelopeError,
  HubError,
  InvalidArgumentError,
  InvalidInvocationError,
  LimitExceededError,
  OutboxFullError,
  BrokerError,
} from './errors.js';
