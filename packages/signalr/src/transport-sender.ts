/** The three SignalR transports, named as in negotiate. */
export type TransportKind = 'WebSockets' | 'ServerSentEvents' | 'LongPolling';

/**
 * Why a connection does not read its client (bits; reading resumes once none holds): its handshake is being
 * handled, its invocation queue is full, one of its client-to-server streams is full.
 */
export const ReadHold = { Handshake: 1, Invocations: 2, ClientStreams: 4 } as const;
export type ReadHold = (typeof ReadHold)[keyof typeof ReadHold];

/** What a transport gives a connection: a way to send bytes, to stop and resume reading, and to end it. */
export interface TransportSender {
  readonly kind: TransportKind;
  /** False for Server-Sent Events (text only). */
  readonly binary: boolean;
  /**
   * Queues bytes for the client. WebSockets: in a binary frame when `binary` says so, else as the
   * connection's `binaryFrames` says; the other transports ignore it.
   */
  send(bytes: Uint8Array, binary?: boolean): void;
  /**
   * Bytes sent but not taken by the client yet: the socket's write buffer and what waits in front of it
   * (long polling: what no poll has taken).
   */
  readonly bufferedAmount: number;
  /**
   * Stop reading from the client (WebSockets: the socket is paused, so the client's sends back up into
   * its own buffers). The HTTP transports do nothing here: their POST is answered only once the connection
   * reads again (see `HubConnectionContext.receiving`).
   */
  pause(): void;
  resume(): void;
  /** Drops what waits for the client; a WebSocket or an event stream is cut. `close` follows. */
  abort(): void;
  close(): void;
}
