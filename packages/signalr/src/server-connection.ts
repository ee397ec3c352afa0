import {
  type HubConnection,
  type HubMessage,
  type HubProtocol,
  type Logger,
  MessageType,
  ProtocolError,
  parseHandshakeRequest,
  writeHandshakeResponse,
} from '@backplane/core';
import type { Claims } from './jwt.js';

/** The three SignalR transports, named as in negotiate. */
export type TransportKind = 'WebSockets' | 'ServerSentEvents' | 'LongPolling';

/** What a transport gives a connection: a way to send bytes and to end the transport. */
export interface TransportSender {
  readonly kind: TransportKind;
  /** False for Server-Sent Events (text only). */
  readonly binary: boolean;
  send(bytes: Uint8Array): void;
  close(): void;
}

export interface ConnectionLimits {
  keepAliveInterval: number;
  clientTimeoutInterval: number;
  handshakeTimeout: number;
  maximumReceiveMessageSize: number;
}

export interface ConnectionEvents {
  /** The handshake succeeded: register with the lifetime manager, run `onConnected`. */
  handshaken(connection: ServerConnection): Promise<void>;
  message(connection: ServerConnection, message: HubMessage): void;
  /** The connection ended (once). */
  closed(connection: ServerConnection, error: Error | undefined): void;
}

/**
 * One client connection held by this node: handshake, framing, keep-alive, client timeout, size limit,
 * close. It is the `HubConnection` the lifetime manager writes to, so frames that arrive over the
 * backplane take exactly the same path as local ones.
 */
export class ServerConnection implements HubConnection {
  readonly connectionId: string;
  readonly userIdentifier: string | undefined;
  readonly claims: Claims;
  #protocol: HubProtocol | undefined;
  #transport: TransportSender;
  #pending = new Uint8Array(0);
  #state: 'handshake' | 'open' | 'closed' = 'handshake';
  #lastReceived = Date.now();
  #lastSent = Date.now();
  #timer: NodeJS.Timeout;
  readonly #handshakeDeadline: number;

  constructor(
    init: {
      connectionId: string;
      userIdentifier: string | undefined;
      claims: Claims;
      transport: TransportSender;
    },
    readonly protocols: ReadonlyMap<string, HubProtocol>,
    readonly limits: ConnectionLimits,
    readonly events: ConnectionEvents,
    readonly log: Logger,
  ) {
    this.connectionId = init.connectionId;
    this.userIdentifier = init.userIdentifier;
    this.claims = init.claims;
    this.#transport = init.transport;
    this.#handshakeDeadline = Date.now() + limits.handshakeTimeout;
    this.#timer = setInterval(() => this.#tick(), Math.min(1_000, limits.keepAliveInterval));
    this.#timer.unref();
  }

  get protocol(): HubProtocol {
    if (!this.#protocol) throw new ProtocolError('The handshake has not completed.');
    return this.#protocol;
  }

  get transport(): TransportSender {
    return this.#transport;
  }

  get open(): boolean {
    return this.#state === 'open';
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Frames for the client (pre-serialized by the lifetime manager, or written by the dispatcher). */
  write(frame: Uint8Array): void {
    if (this.#state !== 'open') return;
    this.#lastSent = Date.now();
    this.#transport.send(frame);
  }

  send(message: HubMessage): void {
    this.write(this.protocol.writeMessage(message));
  }

  /** Bytes from the client: the handshake first, then hub messages. */
  receive(data: Uint8Array): void {
    if (this.#state === 'closed') return;
    this.#lastReceived = Date.now();
    if (this.#state === 'handshake') {
      this.#receiveHandshake(data);
      return;
    }
    if (data.byteLength > this.limits.maximumReceiveMessageSize) {
      this.close(
        new ProtocolError(
          `The maximum message size of ${this.limits.maximumReceiveMessageSize}B was exceeded.`,
        ),
      );
      return;
    }
    let messages: HubMessage[];
    try {
      messages = this.protocol.parseMessages(data);
    } catch (error) {
      this.close(error as Error);
      return;
    }
    for (const message of messages) {
      if (this.#state !== 'open') return;
      if (message.type === MessageType.Close) {
        this.close(undefined, false);
        return;
      }
      this.events.message(this, message);
    }
  }

  /**
   * Ends the connection: a Close message (with the error's message when there is one), then the
   * transport. Idempotent.
   */
  close(error?: Error, sendClose = true, allowReconnect = false): void {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state === 'open';
    if (wasOpen && sendClose) {
      try {
        this.send({
          type: MessageType.Close,
          ...(error && { error: `Connection closed with an error. ${error.message}` }),
          ...(allowReconnect && { allowReconnect }),
        });
      } catch {
        // the transport may already be gone
      }
    }
    this.#state = 'closed';
    clearInterval(this.#timer);
    this.#transport.close();
    this.events.closed(this, error);
  }

  #receiveHandshake(data: Uint8Array): void {
    const all = new Uint8Array(this.#pending.byteLength + data.byteLength);
    all.set(this.#pending, 0);
    all.set(data, this.#pending.byteLength);
    if (all.byteLength > this.limits.maximumReceiveMessageSize) {
      this.#failHandshake('Handshake was canceled.');
      return;
    }
    let parsed: ReturnType<typeof parseHandshakeRequest>;
    try {
      parsed = parseHandshakeRequest(all);
    } catch (error) {
      this.#failHandshake(
        `An unexpected error occurred during connection handshake. ${(error as Error).message}`,
      );
      return;
    }
    if (!parsed) {
      this.#pending = all;
      return;
    }
    this.#pending = new Uint8Array(0);
    const { protocol: name, version } = parsed.request;
    const protocol = this.protocols.get(name);
    const refusal = !protocol
      ? `The protocol '${name}' is not supported.`
      : !protocol.isVersionSupported(version)
        ? `The server does not support version ${version} of the '${name}' protocol.`
        : protocol.transferFormat === 'binary' && !this.#transport.binary
          ? `Cannot use the '${name}' protocol on the current transport. The transport does not support 'Binary' transfer format.`
          : undefined;
    if (!protocol || refusal) {
      this.#failHandshake(refusal ?? `The protocol '${name}' is not supported.`);
      return;
    }
    this.#protocol = protocol;
    this.#transport.send(writeHandshakeResponse());
    this.#state = 'open';
    this.#lastSent = Date.now();
    void this.events.handshaken(this).then(
      () => {
        if (parsed.rest.byteLength > 0) this.receive(parsed.rest);
      },
      (error: unknown) => this.close(error as Error),
    );
  }

  #failHandshake(message: string): void {
    this.log.debug('Handshake failed', { connectionId: this.connectionId, message });
    this.#transport.send(writeHandshakeResponse(message));
    this.#state = 'closed';
    clearInterval(this.#timer);
    this.#transport.close();
    this.events.closed(this, new ProtocolError(message));
  }

  #tick(): void {
    const now = Date.now();
    if (this.#state === 'handshake') {
      if (now > this.#handshakeDeadline) this.#failHandshake('Handshake was canceled.');
      return;
    }
    if (this.#state !== 'open') return;
    if (now - this.#lastReceived > this.limits.clientTimeoutInterval) {
      this.close(
        new ProtocolError("Client hasn't sent a message/ping within the configured ClientTimeoutInterval."),
      );
      return;
    }
    if (now - this.#lastSent >= this.limits.keepAliveInterval) this.send({ type: MessageType.Ping });
  }

  /** Swaps the transport (a long-polling or SSE request picking up the connection). */
  attach(transport: TransportSender): void {
    this.#transport = transport;
  }
}
