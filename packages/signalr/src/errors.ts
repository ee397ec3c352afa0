import { BackplaneError } from '@backplane/core';

/**
 * A request was refused: missing, malformed, badly signed or expired access token. Answered as ASP.NET Core's
 * JWT bearer handler does: 401 with an empty body and `WWW-Authenticate: Bearer`, plus
 * `error="invalid_token"` and the reason as `error_description` when a token was sent (`invalidToken`).
 */
export class UnauthorizedError extends BackplaneError {
  /** A token was sent and refused (false: none was sent, or the refusal is not about a token). */
  readonly invalidToken: boolean;
  constructor(message: string, options?: ErrorOptions & { invalidToken?: boolean }) {
    super('ERR_INVALID_ARGUMENT', message, options);
    this.invalidToken = options?.invalidToken ?? false;
  }
}

/**
 * An authenticated caller is not allowed to connect to a hub: its `authorize` rule refused the claims.
 * Answered with 403 and an empty body, as ASP.NET Core's authorization middleware forbids (an anonymous
 * caller gets {@link UnauthorizedError}'s 401 instead).
 */
export class ForbiddenError extends BackplaneError {
  constructor(message = 'The user is not allowed to connect to this hub.', options?: ErrorOptions) {
    super('ERR_INVALID_ARGUMENT', message, options);
  }
}

/**
 * A transport request carried a connection token this node cannot open a connection with: forged,
 * expired, or already used for a connection that has ended. Answered with 404, as SignalR does.
 */
export class ConnectionTokenError extends BackplaneError {
  constructor(message = 'No Connection with that ID', options?: ErrorOptions) {
    super('ERR_CONNECTION_NOT_FOUND', message, options);
  }
}

/**
 * A connection was closed because more than `HubServerOptions.transportMaxBufferSize` bytes waited to be
 * sent to it: the client stopped reading (or reads slower than it is sent to). Its hub's `onDisconnected`
 * receives this error; `HubServer.stats.slowConsumerCloses` counts them.
 */
export class SlowConsumerError extends BackplaneError {
  /** Bytes waiting for the client when the next message came. */
  readonly bufferedBytes: number;
  readonly limit: number;
  constructor(bufferedBytes: number, limit: number, options?: ErrorOptions) {
    super(
      'ERR_BROKER',
      `The client does not read what it is sent: ${bufferedBytes} bytes wait for it and the next message would exceed HubServerOptions.transportMaxBufferSize (${limit} bytes).`,
      options,
    );
    this.bufferedBytes = bufferedBytes;
    this.limit = limit;
  }
}

/** The server is shutting down and accepts no new connections. Answered with 503. */
export class ShuttingDownError extends BackplaneError {
  constructor(message = 'The server is shutting down.', options?: ErrorOptions) {
    super('ERR_CLOSED', message, options);
  }
}

/**
 * A client-to-server stream did not end normally; its iterator throws this in the hub method. `reason`
 * says why: the client completed the stream with an error (`message` is the client's text, code
 * `ERR_HUB`), or the connection closed before the stream ended (`The underlying connection was closed.`,
 * code `ERR_CONNECTION_DISCONNECTED`). Not a `HubError`: left uncaught, the caller sees the generic error
 * unless detailed errors are on.
 */
export class ClientStreamError extends BackplaneError {
  /** The stream's id (one of the invocation's `streamIds`). */
  readonly streamId: string;
  /** The client completed the stream with an error, or the connection closed first. */
  readonly reason: 'client-error' | 'disconnected';
  constructor(
    streamId: string,
    reason: 'client-error' | 'disconnected',
    message = 'The underlying connection was closed.',
    options?: ErrorOptions,
  ) {
    super(reason === 'client-error' ? 'ERR_HUB' : 'ERR_CONNECTION_DISCONNECTED', message, options);
    this.streamId = streamId;
    this.reason = reason;
  }
}
