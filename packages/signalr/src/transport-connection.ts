import type { CloseOptions } from './connection-settings.js';
import type { TransportSender } from './transport-sender.js';

/**
 * What an endpoint and its transports need of a connection, whether it speaks a hub protocol
 * (`HubConnectionContext`) or exchanges raw messages with a connection handler (`RawConnectionContext`).
 */
export interface TransportConnection {
  /** What the endpoint files the connection under (derived from the token the client addresses it with). */
  readonly key: string;
  readonly connectionId: string;
  readonly userIdentifier: string | undefined;
  readonly transport: TransportSender;
  readonly closed: boolean;
  /** A POST is being read (a second concurrent one is refused with 409, as in SignalR). */
  posting: boolean;
  /** WebSockets: send in binary frames unless a send says otherwise (a binary hub protocol was agreed). */
  readonly binaryFrames: boolean;
  /** Stateful reconnect is on and the transport dropped: a reconnecting transport may take over. */
  readonly awaitingReconnect: boolean;
  /** Awaiting a reconnect with nothing lost from the resend buffer. */
  readonly canResume: boolean;
  /**
   * Bytes from the client: one WebSocket message (`binary`: a binary frame) or one POST body (`binary`: sent
   * as `application/octet-stream`).
   */
  receive(data: Uint8Array, binary: boolean): void;
  /** Resolves once the connection reads again (the HTTP transports answer a POST only then). */
  receiving(): Promise<void>;
  /** The transport dropped without a close handshake. */
  transportLost(error?: Error): void;
  /** Stateful reconnect: continue on `transport`; false if the connection cannot be resumed. */
  reattach(transport: TransportSender): boolean;
  /** With `closeOnAuthenticationExpiration`: whether the connection's JWT has expired at `now` (Unix ms). */
  authenticationExpired(now: number): boolean;
  /** Ends the connection. Idempotent. */
  close(error?: Error, options?: CloseOptions): void;
}
