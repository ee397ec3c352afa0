/** The `code` of a `BackplaneError`: what kind of failure it is. */
export type BackplaneErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_CONNECTION_NOT_FOUND'
  | 'ERR_CONNECTION_DISCONNECTED'
  | 'ERR_HUB'
  | 'ERR_INVALID_INVOCATION'
  | 'ERR_ACK_TIMEOUT'
  | 'ERR_ENVELOPE'
  | 'ERR_BROKER'
  | 'ERR_OUTBOX_FULL'
  | 'ERR_CLOSED'
  | 'ERR_DUPLICATE_CONNECTION'
  | 'ERR_LIMIT_EXCEEDED'
  | 'ERR_REQUEST_FAILED'
  | 'ERR_SESSION';

/**
 * The base class of backplane's errors: each is a named class, with a stable `code` and the underlying
 * `cause` when there is one. Messages that SignalR users rely on are kept word for word.
 */
export class BackplaneError extends Error {
  readonly code: BackplaneErrorCode;
  constructor(code: BackplaneErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A required argument was missing or empty (for example an empty group name). */
export class InvalidArgumentError extends BackplaneError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_ARGUMENT', message, options);
  }
}

/** The target connection exists on no server (SignalR's `IOException` "Connection '{id}' does not exist."). */
export class ConnectionNotFoundError extends BackplaneError {
  readonly connectionId: string;
  constructor(connectionId: string, options?: ErrorOptions) {
    super('ERR_CONNECTION_NOT_FOUND', `Connection '${connectionId}' does not exist.`, options);
    this.connectionId = connectionId;
  }
}

/** A local connection went away while a client result was pending ("Connection '{id}' disconnected."). */
export class ConnectionDisconnectedError extends BackplaneError {
  readonly connectionId: string;
  constructor(connectionId: string, options?: ErrorOptions) {
    super('ERR_CONNECTION_DISCONNECTED', `Connection '${connectionId}' disconnected.`, options);
    this.connectionId = connectionId;
  }
}

/**
 * An error whose message is meant for the hub caller (SignalR's `HubException`): an error a client returned,
 * "Connection disconnected." for a remote connection, "Invocation canceled by the server.", a result of the
 * wrong type.
 */
export class HubError extends BackplaneError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_HUB', message, options);
  }
}

/** A client result was completed by a connection that was not asked. */
export class InvalidInvocationError extends BackplaneError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_INVOCATION', message, options);
  }
}

/** A group command for a connection on another server got no acknowledgement in time. */
export class AckTimeoutError extends BackplaneError {
  readonly timeoutMs: number;
  constructor(message: string, timeoutMs: number, options?: ErrorOptions) {
    super('ERR_ACK_TIMEOUT', message, options);
    this.timeoutMs = timeoutMs;
  }
}

/** Bytes on a backplane channel that are not a valid envelope. Reported and counted, never thrown at a receiver. */
export class EnvelopeError extends BackplaneError {
  readonly channel: string | undefined;
  constructor(message: string, channel?: string, options?: ErrorOptions) {
    super('ERR_ENVELOPE', message, options);
    this.channel = channel;
  }
}

/** The broker refused or failed an operation (publish, subscribe, connect). */
export class BrokerError extends BackplaneError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_BROKER', message, options);
  }
}

/** The manager, context or driver was closed. */
export class ClosedError extends BackplaneError {
  constructor(what: string, options?: ErrorOptions) {
    super('ERR_CLOSED', `${what} is closed.`, options);
  }
}

/** The outbox refused a publish (`reject` policy when full, or a message larger than its byte bound). */
export class OutboxFullError extends BackplaneError {
  readonly reason: string;
  constructor(reason: string, options?: ErrorOptions) {
    super('ERR_OUTBOX_FULL', `The outbox is full (${reason}); the message was not published.`, options);
    this.reason = reason;
  }
}

/**
 * `onConnected` was called with a connection id this server already holds, by a different connection
 * object. The connection registered first keeps the id (and its messages); the second is refused.
 */
export class DuplicateConnectionError extends BackplaneError {
  readonly connectionId: string;
  constructor(connectionId: string, options?: ErrorOptions) {
    super(
      'ERR_DUPLICATE_CONNECTION',
      `Connection '${connectionId}' is already connected to this server.`,
      options,
    );
    this.connectionId = connectionId;
  }
}

/** The manager options that bound names and memberships (see `HubLifetimeManagerOptions`). */
export type LimitName = 'maxGroupNameLength' | 'maxUserIdLength' | 'maxGroupsPerConnection';

/**
 * A group name or user id longer than allowed, or a connection joining more groups than allowed. Nothing
 * was sent, subscribed or changed.
 */
export class LimitExceededError extends BackplaneError {
  /** The option that sets the limit. */
  readonly limit: LimitName;
  /** Its value on the server that refused (characters, or groups per connection). */
  readonly max: number;
  constructor(limit: LimitName, max: number, message: string, options?: ErrorOptions) {
    super('ERR_LIMIT_EXCEEDED', message, options);
    this.limit = limit;
    this.max = max;
  }
}

/**
 * A request to the server owning a connection (`HubLifetimeManager.request`) was not answered: that server
 * holds its maximum of requests (`reason` 'busy'), its handler failed ('error'), or this server holds its
 * maximum of pending requests ('limit'). Timeouts are `AckTimeoutError`; a connection that exists nowhere is
 * `ConnectionNotFoundError`.
 */
export class RequestFailedError extends BackplaneError {
  /** Which bound was reached, or that the owner's handler failed. */
  readonly reason: 'busy' | 'error' | 'limit';
  constructor(reason: 'busy' | 'error' | 'limit', message: string, options?: ErrorOptions) {
    super('ERR_REQUEST_FAILED', message, options);
    this.reason = reason;
  }
}

/** Why a session cannot be adopted. */
export type SessionErrorReason = 'not-found' | 'malformed' | 'mismatch' | 'overflowed' | 'unavailable';

/**
 * A client session could not be adopted from the session store: there is no record (never stateful, ended,
 * or expired), it is malformed or of another version, it belongs to another hub, user or protocol, its
 * unacknowledged frames did not fit in the record, or the store could not be read.
 */
export class SessionError extends BackplaneError {
  readonly reason: SessionErrorReason;
  constructor(reason: SessionErrorReason, message: string, options?: ErrorOptions) {
    super('ERR_SESSION', message, options);
    this.reason = reason;
  }
}
