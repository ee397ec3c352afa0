import type { ConnectionTally, HubServerStats } from './hub-server-stats.js';
import type { KeepAliveSettings } from './keep-alive.js';

/** The resolved options a connection needs. */
export interface ConnectionSettings extends KeepAliveSettings {
  /** 0 disables stateful reconnect; otherwise the resend buffer bound, in bytes. */
  readonly statefulReconnectBufferSize: number;
  /** Keep stateful sessions in the lifetime manager's session store (its driver has one). */
  readonly keepSessions: boolean;
  /** How long a stateful connection whose transport dropped waits for the client to come back, in ms. */
  readonly disconnectTimeout: number;
  readonly maximumReceiveMessageSize: number;
  /** Put error details in Close messages and handshake errors. */
  readonly detailedErrors: boolean;
  /** Close a connection once its JWT expires (`exp` of its claims plus `jwtClockSkew`). */
  readonly closeOnAuthenticationExpiration: boolean;
  /** Leeway on a JWT's `exp`, in seconds. */
  readonly jwtClockSkew: number;
  /** Bytes that may wait to be sent to a client before it is closed as a slow consumer. */
  readonly transportMaxBufferSize: number;
  /** Counts the slow-consumer closes (shared by every hub of a server). */
  readonly stats: HubServerStats;
  /** Counts connections opened and closed, by transport and protocol (shared by every hub of a server). */
  readonly connections: ConnectionTally;
}

export interface CloseOptions {
  /** Send a Close message first (not when the client closed or the transport is gone). @default true */
  sendClose?: boolean;
  /** Tell the client it may reconnect (graceful shutdown). @default false */
  allowReconnect?: boolean;
}
