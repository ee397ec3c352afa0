import {
  type HubConnection,
  type HubMessage,
  type HubProtocol,
  isSequencedMessage,
  type Logger,
  MessageType,
  ProtocolError,
  parseHandshakeRequest,
  writeHandshakeResponse,
} from '@backplane/core';
import type { Claims } from './jwt.js';
import { SequenceBuffer } from './sequence-buffer.js';

/** How often a stateful connection acks what it received, in ms (SignalR's AckRate). */
const ACK_INTERVAL_MS = 1_000;

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
  /** 0 disables stateful reconnect; otherwise the resend buffer bound, in bytes. */
  statefulReconnectBufferSize: number;
  /** How long a stateful connection whose transport dropped waits for the client to come back, in ms. */
  disconnectTimeout: number;
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
  readonly #wantsStateful: boolean;
  #state: 'handshake' | 'open' | 'closed' = 'handshake';
  #lastReceived = Date.now();
  #lastSent = Date.now();
  #timer: NodeJS.Timeout;
  readonly #handshakeDeadline: number;
  /** Set when stateful reconnect was negotiated (WebSockets, handshake version 2). */
  #sequence: SequenceBuffer | undefined;
  #attached = true;
  #detachTimer: NodeJS.Timeout | undefined;
  #ackTimer: NodeJS.Timeout | undefined;

  constructor(
    init: {
      connectionId: string;
      userIdentifier: string | undefined;
      claims: Claims;
      transport: TransportSender;
      /** The client negotiated stateful reconnect. */
      statefulReconnect: boolean;
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
    this.#wantsStateful = init.statefulReconnect && limits.statefulReconnectBufferSize > 0;
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
    // The lifetime manager only writes invocations, all of them sequenced: backplane messages are
    // counted and kept for a resend exactly like local ones (SignalR bug #55575).
    this.#emit(frame, true);
  }

  send(message: HubMessage): void {
    if (this.#state !== 'open') return;
    this.#emit(this.protocol.writeMessage(message), isSequencedMessage(message));
  }

  #emit(frame: Uint8Array, sequenced: boolean): void {
    if (this.#state !== 'open') return;
    if (sequenced) this.#sequence?.sent(frame);
    if (!this.#attached) return; // kept for the resend when the client comes back
    this.#lastSent = Date.now();
    this.#transport.send(frame);
  }

  /**
   * The transport dropped without a close handshake. A stateful connection waits `disconnectTimeout`
   * for the client to reconnect (buffering meanwhile); any other connection ends.
   */
  transportLost(error?: Error): void {
    if (!this.#sequence || this.#state !== 'open') {
      this.close(error, false);
      return;
    }
    if (!this.#attached) return;
    this.#attached = false;
    this.#detachTimer = setTimeout(() => this.close(error, false), this.limits.disconnectTimeout);
    this.#detachTimer.unref();
  }

  /**
   * The client reconnected with the same connection token: resume on the new transport with
   * `Sequence{first unacked}` and a resend of everything unacked. False if resuming is impossible.
   */
  reattach(transport: TransportSender): boolean {
    const sequence = this.#sequence;
    if (!sequence || this.#state !== 'open' || this.#attached) return false;
    clearTimeout(this.#detachTimer);
    if (sequence.overflowed) {
      this.close(
        new ProtocolError('The stateful reconnect buffer overflowed; messages cannot be replayed.'),
        false,
      );
      return false;
    }
    this.#transport = transport;
    this.#attached = true;
    const { sequenceId, frames } = sequence.resend();
    transport.send(this.protocol.writeMessage({ type: MessageType.Sequence, sequenceId }));
    for (const frame of frames) transport.send(frame);
    this.#lastSent = Date.now();
    return true;
  }

  /** Whether a reconnecting transport may take this connection over. */
  get awaitingReconnect(): boolean {
    return this.#sequence !== undefined && this.#state === 'open' && !this.#attached;
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
      const sequence = this.#sequence;
      if (sequence) {
        if (message.type === MessageType.Ack) {
          sequence.ack(message.sequenceId);
          continue;
        }
        if (message.type === MessageType.Sequence) {
          if (!sequence.resetReceive(message.sequenceId)) {
            this.close(new ProtocolError("Sequence ID greater than amount of messages we've received."));
            return;
          }
          continue;
        }
        if (isSequencedMessage(message)) {
          if (!sequence.received()) continue; // a resend of something already handled
          this.#scheduleAck();
        }
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
    clearTimeout(this.#detachTimer);
    clearTimeout(this.#ackTimer);
    this.#transport.close();
    this.events.closed(this, error);
  }

  #scheduleAck(): void {
    if (this.#ackTimer) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = undefined;
      if (this.#state === 'open' && this.#attached && this.#sequence)
        this.#transport.send(
          this.protocol.writeMessage({ type: MessageType.Ack, sequenceId: this.#sequence.latestReceived }),
        );
    }, ACK_INTERVAL_MS);
    this.#ackTimer.unref();
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
    if (this.#wantsStateful && version >= 2 && this.#transport.kind === 'WebSockets')
      this.#sequence = new SequenceBuffer(this.limits.statefulReconnectBufferSize);
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
    if (this.#state !== 'open' || !this.#attached) return;
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
