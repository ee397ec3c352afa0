// The public API: what applications and driver authors use. Sibling packages also use
// `@backplane/core/internal` (wire format, channel names, ids, backoff), which is not covered by semver.

// Lifetime manager and hub context
export type {
  GroupOptions,
  HubLifetimeManagerOptions,
  InvokeOptions,
  MissedMessages,
} from './manager-options.js';
export { HubLifetimeManager } from './hub-lifetime-manager.js';
export type { DeliverySource, LocalConnection } from './local-connection.js';

// Sessions that outlive their server (session store, adoption)
export type { Adoption, SessionCheckpoint, UnackedFrame } from './sessions/session-keeper.js';
export { SessionKeeper } from './sessions/session-keeper.js';
export type { PendingFrames, SessionRecord } from './sessions/session-record.js';
export type { HubContextOptions } from './hub-context.js';
export { HubContext } from './hub-context.js';
export type { ResultType } from './client-results.js';
export type { HubPresence, PresenceQueryOptions, PresenceResult } from './presence-result.js';
export type {
  ConnectionRequest,
  ConnectionRequestHandler,
  RequestOptions,
} from './connection-requests.js';
export type { BackplaneStats, ChannelKindCounts } from './stats.js';
export type { BackplaneMeasurement, PublishMeasurement } from './measurements.js';

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
  SessionStoreDriver,
} from './driver.js';
export {
  isDurableDriver,
  isSessionStoreDriver,
  LOG_START,
  MAX_RECORD_BYTES,
  MAX_RECORD_KEY_LENGTH,
} from './driver.js';
export { DriverBase } from './driver-base.js';

// Channel names (`manager.channels`; built by the manager)
export type { ChannelKind, Channels, ChannelTarget } from './channels.js';

// Resilience (outage detection, outbox, gaps, reconnect backoff options)
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

// Tracing (OpenTelemetry, through the optional peer dependency `@opentelemetry/api`)
export type { TracingOptions } from './tracing-options.js';

// Logging
export type { ConsoleLoggerOptions, LogFormat, Logger, LogLevel, LogLimits } from './logger.js';
export { boundedLogger, createConsoleLogger, DEFAULT_LOG_LIMITS } from './logger.js';

// Errors
export type { BackplaneErrorCode, LimitName, SessionErrorReason } from './errors.js';
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
  RequestFailedError,
  SessionError,
} from './errors.js';
