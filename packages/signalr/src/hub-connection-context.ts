import {
  type DeliverySource,
  HubError,
  type LocalConnection,
  type Logger,
  type SessionCheckpoint,
} from '@backplane/core';
import {
  type HubMessage,
  type HubProtocol,
  isSequencedMessage,
  MessageType,
  ProtocolError,
  parseHandshakeRequest,
  writeHandshakeResponse,
} from '@backplane/hub-protocol';
import { authenticationExpiry } from './auth.js';
import type { CloseOptions, ConnectionSettings } from './connection-settings.js';
import type { ConnectionState } from './dispatch-state.js';
import { SlowConsumerError, UnauthorizedError } from './errors.js';
import type { TransportRequest } from './http-request.js';
import type { Claims } from './jwt.js';
import { type Heartbeat, type HeartbeatTarget, KeepAlive } from './keep-alive.js';
import { messageTooLarge, RecordReader } from './record-reader.js';
import { ResumeGate } from './resume-gate.js';
import { SequenceBuffer } from './sequence-buffer.js';
import { SESSION_WINDOW, type SessionSaver } from './session-saver.js';
import type { TransportConnection } from './transport-connection.js';
import { ReadHold, type TransportSender } from './transport-sender.js';

/**
 * The invocation id of the completions an adopted session's sequence is filled with: no client's (clients
 * number their invocations), and not empty (clients refuse a completion without one).
 */
const FILLER_ID = 'backplane:skip';

/** How often a stateful connection acks what it received, in ms (SignalR's AckRate). */
const ACK_INTERVAL_MS = 1_000;

/** The empty handshake buffer, shared (a connection holds it for life once the handshake is done). */
const NO_BYTES = new Uint8Array(0);

export interface ConnectionEvents {
  /** The handshake succeeded: register with the lifetime manager, run `onConnected`. */
  handshaken(connection: HubConnectionContext): Promise<void>;
  /** A hub message for the dispatcher, in arrival order, only once `handshaken` has resolved. */
  message(connection: HubConnectionContext, message: HubMessage): void;
  /** The connection ended (once). */
  closed(connection: HubConnectionContext, error: Error | undefined): void;
}

type State = 'handshake' | 'open' | 'closed';

/**
 * One client connection held by this node: handshake, record framing and the size limit, keep-alive and
 * client timeout, stateful reconnect, close. It is the `LocalConnection` the lifetime manager writes to, so
 * frames that arrive over the backplane take exactly the same (counted, buffered) path as local ones.
 */
export class HubConnectionContext implements LocalConnection, HeartbeatTarget, TransportConnection {
  readonly connectionId: string;
  /** What the endpoint files this connection under (derived from the token the client addresses it with). */
  readonly key: string;
  readonly userIdentifier: string | undefined;
  readonly claims: Claims;
  /** What the connection kept of the request that opened its transport (`context.http`). */
  readonly request: TransportRequest;
  #protocol: HubProtocol | undefined;
  #transport: TransportSender;
  #state: State = 'handshake';
  #handshakeBytes = NO_BYTES;
  #reader: RecordReader | undefined;
  /**
   * Why reading is paused ({@link ReadHold} bits, 0 when reading): while `handshaken` runs (SignalR reads
   * nothing until OnConnected is done), while the dispatcher's queue is full, while a client stream's buffer
   * is full. Bytes that still arrive are held unparsed by the record reader.
   */
  #holds = 0;
  get #paused(): boolean {
    return this.#holds !== 0;
  }
  /** Messages parsed in the same batch as the one that paused reading, handed over on resume. */
  #inbox: HubMessage[] | undefined;
  /** What waits for reading to resume (a POST); released on resume or close. */
  readonly #resumeGate = new ResumeGate();
  readonly #keepAlive: KeepAlive;
  readonly #wantsStateful: boolean;
  /** Set when stateful reconnect is on (negotiated, WebSockets, handshake version 2). */
  #sequence: SequenceBuffer | undefined;
  #attached = true;
  #detachTimer: NodeJS.Timeout | undefined;
  #ackTimer: NodeJS.Timeout | undefined;
  /**
   * Set once the handshake succeeded: resolves true when `handshaken` (lifetime manager, then the hub's
   * `onConnected`) succeeded, false when it failed. Undefined if the handshake never succeeded.
   */
  ready: Promise<boolean> | undefined;
  /** A POST is being read (a second concurrent one is refused with 409, as in SignalR). */
  posting = false;
  /** The hub dispatcher's per-connection state (its own slot, so no map entry per connection). */
  dispatchState: ConnectionState | undefined;
  /** Keeps the session in the session store (stateful connections, where the driver has one). */
  session: SessionSaver | undefined;
  /** The session moved to another server (drain): it ended here without ending for the client. */
  handedOff = false;

  constructor(
    init: {
      key: string;
      connectionId: string;
      userIdentifier: string | undefined;
      claims: Claims;
      transport: TransportSender;
      request: TransportRequest;
      /** Negotiate agreed to stateful reconnect. */
      statefulReconnect: boolean;
    },
    readonly protocols: ReadonlyMap<string, HubProtocol>,
    readonly settings: ConnectionSettings,
    readonly events: ConnectionEvents,
    readonly heartbeat: Heartbeat,
    readonly log: Logger,
  ) {
    this.connectionId = init.connectionId;
    this.key = init.key;
    this.userIdentifier = init.userIdentifier;
    this.claims = init.claims;
    this.request = init.request;
    this.#transport = init.transport;
    this.#wantsStateful = init.statefulReconnect && settings.statefulReconnectBufferSize > 0;
    this.#keepAlive = new KeepAlive(settings, init.transport.kind === 'LongPolling');
    heartbeat.add(this);
  }

  get protocol(): HubProtocol {
    if (!this.#protocol) throw new ProtocolError('The handshake has not completed.');
    return this.#protocol;
  }

  get transport(): TransportSender {
    return this.#transport;
  }

  /** WebSockets: binary frames once a binary hub protocol is agreed (the handshake is text). */
  get binaryFrames(): boolean {
    return this.#state === 'open' && this.#protocol!.transferFormat === 'binary';
  }

  /** The handshake is done and the connection not closed. */
  get open(): boolean {
    return this.#state === 'open';
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Stateful reconnect is on and the transport dropped: a reconnecting transport may take over. */
  get awaitingReconnect(): boolean {
    return this.#sequence !== undefined && this.#state === 'open' && !this.#attached;
  }

  /** Awaiting a reconnect, and everything unacked is still buffered, so a resume would lose nothing. */
  get canResume(): boolean {
    return this.awaitingReconnect && !this.#sequence!.overflowed;
  }

  /** Framed invocations from the lifetime manager (local or from the backplane): always sequenced. */
  write(frame: Uint8Array, source?: DeliverySource): void {
    // Counted and kept for a resend exactly like the dispatcher's messages (SignalR bug #55575).
    this.#emit(frame, true, source);
  }

  /** Sends one hub message (completions, stream items, pings, close). */
  send(message: HubMessage): void {
    if (this.#state !== 'open') return;
    const sequenced = isSequencedMessage(message);
    this.#emit(this.protocol.writeMessage(message), sequenced);
    // No log holds what this server answers: the session's record takes it at once.
    if (sequenced && this.#attached) this.session?.changed();
  }

  #emit(frame: Uint8Array, sequenced: boolean, source?: DeliverySource): void {
    if (this.#state !== 'open') return;
    if (sequenced && this.#sequence) {
      this.#sequence.sent(frame, source);
      this.session?.sent(this.#sequence.lastSent);
    }
    if (!this.#attached) return; // kept for the resend when the client comes back
    const waiting = this.#transport.bufferedAmount;
    if (waiting > 0 && waiting + frame.byteLength > this.settings.transportMaxBufferSize) {
      this.#closeSlowConsumer(waiting);
      return;
    }
    this.#keepAlive.sent();
    this.#transport.send(frame);
  }

  /**
   * The client does not take what it is sent: drop what waits for it and close, rather than buffer without
   * bound. Long polling keeps the Close message for the client's next poll; a WebSocket or an event stream
   * is cut (a client that does not read would not read a Close either).
   */
  #closeSlowConsumer(waiting: number): void {
    const limit = this.settings.transportMaxBufferSize;
    this.settings.stats.slowConsumerCloses++;
    this.log.warn('Slow consumer closed', {
      connectionId: this.connectionId,
      transport: this.#transport.kind,
      bufferedBytes: waiting,
      limit,
    });
    this.#transport.abort();
    this.close(new SlowConsumerError(waiting, limit), { sendClose: this.#transport.kind === 'LongPolling' });
  }

  /** Bytes from the client: the handshake first, then hub messages. */
  receive(data: Uint8Array): void {
    if (this.#state === 'closed') return;
    this.#keepAlive.received();
    if (this.#state === 'handshake') {
      this.#receiveHandshake(data);
      return;
    }
    this.#receiveMessages(data);
  }

  #receiveMessages(data: Uint8Array): void {
    let messages: HubMessage[];
    try {
      if (this.#paused) {
        this.#reader!.hold(data);
        return;
      }
      const complete = this.#reader!.push(data);
      if (complete.byteLength === 0) return;
      messages = this.protocol.parseMessages(complete);
    } catch (error) {
      this.log.debug('Invalid message from client', { connectionId: this.connectionId, error });
      this.close(error as Error);
      return;
    }
    for (const message of messages) {
      if (this.#state !== 'open') return;
      if (message.type === MessageType.Close) {
        this.close(undefined, { sendClose: false });
        return;
      }
      if (message.type === MessageType.Ping) continue;
      const sequence = this.#sequence;
      if (message.type === MessageType.Ack) {
        sequence?.ack(message.sequenceId);
        this.session?.changed();
        continue;
      }
      if (message.type === MessageType.Sequence) {
        if (sequence && !sequence.resetReceive(message.sequenceId)) {
          this.close(new ProtocolError("Sequence ID greater than amount of messages we've received."));
          return;
        }
        continue;
      }
      if (sequence && isSequencedMessage(message)) {
        if (!sequence.received()) continue; // a resend of something already handled
        this.#scheduleAck();
      }
      if (!this.#paused) this.events.message(this, message);
      else if (this.#inbox) this.#inbox.push(message);
      else this.#inbox = [message];
    }
  }

  /**
   * Backpressure, for `hold`: the dispatcher has as many calls waiting as it may queue, or a client stream
   * holds as many items as it may. Nothing more is parsed (bytes that still arrive are held, bounded by what
   * the transport had already read) and the transport stops reading, so a client that floods calls or
   * stream items is held back by its own buffers, not by this server's memory. Completions and
   * cancellations behind the flood wait too, as in SignalR (whose read loop blocks).
   */
  pauseReceiving(hold: ReadHold): void {
    if (this.#state === 'closed' || this.#holds & hold) return;
    const reading = this.#holds === 0;
    this.#holds |= hold;
    if (reading) this.#transport.pause();
  }

  /**
   * Lifts `hold`. Once nothing holds reading back, reads again: first the messages already parsed, then
   * the bytes held meanwhile, until paused again.
   */
  resumeReceiving(hold: ReadHold): void {
    if (!(this.#holds & hold) || this.#state !== 'open') return;
    this.#holds &= ~hold;
    if (this.#holds !== 0) return;
    this.#transport.resume();
    try {
      const inbox = this.#inbox;
      if (inbox) {
        let next = 0;
        while (next < inbox.length && !this.#paused && this.#state === 'open')
          this.events.message(this, inbox[next++]!);
        if (next < inbox.length) {
          inbox.splice(0, next);
          return;
        }
        this.#inbox = undefined;
      }
      if (this.#state === 'open' && !this.#paused) this.#receiveMessages(NO_BYTES);
    } catch (error) {
      this.log.warn('Dispatch failed', { connectionId: this.connectionId, error });
      this.close(error instanceof Error ? error : new Error(String(error)));
    }
    if (!this.#paused) this.#resumeGate.release();
  }

  /**
   * Resolves once the connection reads again, at once unless it is paused. The HTTP transports answer a
   * POST only then: the client sends one POST at a time, so holding its answer is their backpressure.
   */
  receiving(): Promise<void> {
    return this.#resumeGate.wait(this.#paused && this.#state !== 'closed');
  }

  /**
   * The transport dropped without a close handshake. A stateful connection waits `disconnectTimeout` for
   * the client to come back (buffering meanwhile); any other connection ends.
   */
  transportLost(error?: Error): void {
    if (!this.#sequence || this.#state !== 'open') {
      this.close(error, { sendClose: false });
      return;
    }
    if (!this.#attached) return;
    this.#attached = false;
    this.#detachTimer = setTimeout(() => this.#expire(error), this.settings.disconnectTimeout);
    this.#detachTimer.unref();
  }

  /**
   * The client did not come back in time: the session ends, unless it went on on another node (the client
   * reached another node, which adopted it): then it ends here silently, without `onDisconnected`.
   */
  #expire(error: Error | undefined): void {
    const session = this.session;
    if (!session) {
      this.close(error, { sendClose: false });
      return;
    }
    void session.heldElsewhere().then((moved) => {
      if (this.#state !== 'open' || this.#attached) return; // closed, or back, meanwhile
      if (moved) this.handedOff = true;
      if (moved) this.#end(undefined);
      else this.close(error, { sendClose: false });
    });
  }

  /**
   * The client reconnected with the same connection token: resume on the new transport with
   * `Sequence{first unacked}` and a resend of everything unacked. False if resuming is impossible (the
   * connection is then closed).
   */
  reattach(transport: TransportSender): boolean {
    const sequence = this.#sequence;
    if (!sequence || this.#state !== 'open' || this.#attached) return false;
    clearTimeout(this.#detachTimer);
    if (sequence.overflowed) {
      this.close(
        new ProtocolError('The stateful reconnect buffer overflowed; messages cannot be replayed.'),
        { sendClose: false },
      );
      return false;
    }
    this.#transport = transport;
    this.#attached = true;
    this.session?.changed();
    if (this.#paused) transport.pause();
    this.#keepAlive.received();
    const { sequenceId, frames } = sequence.resend();
    transport.send(this.protocol.writeMessage({ type: MessageType.Sequence, sequenceId }));
    for (const frame of frames) transport.send(frame);
    this.#keepAlive.sent();
    return true;
  }

  /**
   * Ends the connection: a Close message (saying there was an error when there was one; details only
   * with detailed errors, as in SignalR), then the transport. Idempotent.
   */
  close(error?: Error, options: CloseOptions = {}): void {
    if (this.#state === 'closed') return;
    const { sendClose = true, allowReconnect = false } = options;
    if (this.#state === 'open' && sendClose && this.#attached) {
      try {
        this.send({
          type: MessageType.Close,
          ...(error && { error: this.#errorText('Connection closed with an error.', error) }),
          ...(allowReconnect && { allowReconnect }),
        });
      } catch {
        // the transport may already be gone
      }
    }
    this.#end(error);
  }

  #end(error: Error | undefined): void {
    if (this.#state === 'closed') return; // sending the Close message may have closed it (a slow consumer)
    this.#state = 'closed';
    if (this.#protocol) this.settings.connections.closed(this.#transport.kind, this.#protocol.name);
    this.#inbox = undefined;
    this.#resumeGate.release();
    this.heartbeat.delete(this);
    if (!this.handedOff) this.session?.end();
    clearTimeout(this.#detachTimer);
    clearTimeout(this.#ackTimer);
    if (this.#paused) this.#transport.resume(); // a WebSocket close handshake needs the client's answer read
    this.#transport.close();
    this.events.closed(this, error);
  }

  /** SignalR's `ErrorMessageHelper`: a `HubError`'s message always (named HubException), others when enabled. */
  #errorText(message: string, error: Error): string {
    if (error instanceof HubError) return `${message} HubException: ${error.message}`;
    return this.settings.detailedErrors ? `${message} ${error.name}: ${error.message}` : message;
  }

  #scheduleAck(): void {
    if (this.#ackTimer) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = undefined;
      if (this.#state === 'open' && this.#attached && this.#sequence) {
        this.#transport.send(
          this.protocol.writeMessage({ type: MessageType.Ack, sequenceId: this.#sequence.latestReceived }),
        );
        this.session?.changed();
      }
    }, ACK_INTERVAL_MS);
    this.#ackTimer.unref();
  }

  #receiveHandshake(data: Uint8Array): void {
    const limit = this.settings.maximumReceiveMessageSize;
    const all = new Uint8Array(this.#handshakeBytes.byteLength + data.byteLength);
    all.set(this.#handshakeBytes, 0);
    all.set(data, this.#handshakeBytes.byteLength);
    let parsed: ReturnType<typeof parseHandshakeRequest>;
    try {
      parsed = parseHandshakeRequest(all);
    } catch (error) {
      this.#failHandshake(
        this.#errorText('An unexpected error occurred during connection handshake.', error as Error),
        error as Error,
      );
      return;
    }
    if (!parsed) {
      if (all.byteLength > limit) this.#failHandshake('Handshake was canceled.', messageTooLarge(limit));
      else this.#handshakeBytes = all;
      return;
    }
    this.#handshakeBytes = NO_BYTES;
    const { protocol: name, version } = parsed.request;
    const protocol = this.protocols.get(name);
    const refusal = !protocol
      ? `The protocol '${name}' is not supported.`
      : !protocol.isVersionSupported(version)
        ? `The server does not support version ${version} of the '${name}' protocol.`
        : protocol.transferFormat === 'binary' && !this.#transport.binary
          ? `Cannot use the '${name}' protocol on the current transport. The transport does not support 'Binary' transfer format.`
          : undefined;
    if (!protocol || refusal !== undefined) {
      this.#failHandshake(refusal ?? `The protocol '${name}' is not supported.`);
      return;
    }
    this.#protocol = protocol;
    this.settings.connections.opened(this.#transport.kind, protocol.name);
    this.#reader = new RecordReader(protocol.transferFormat, limit);
    if (this.#wantsStateful && version >= 2 && this.#transport.kind === 'WebSockets')
      this.#sequence = new SequenceBuffer(this.settings.statefulReconnectBufferSize);
    this.#transport.send(writeHandshakeResponse());
    this.#keepAlive.sent();
    this.#state = 'open';
    this.pauseReceiving(ReadHold.Handshake); // until `handshaken` is done
    if (parsed.rest.byteLength > 0) this.#receiveMessages(parsed.rest);
    if (this.#state !== 'open') return;
    this.ready = this.events.handshaken(this).then(
      () => {
        this.resumeReceiving(ReadHold.Handshake);
        return true;
      },
      (error: unknown) => {
        this.log.warn('onConnected failed', { connectionId: this.connectionId, error });
        this.close(error instanceof Error ? error : new Error(String(error)));
        return false;
      },
    );
  }

  #failHandshake(message: string, error: Error = new ProtocolError(message)): void {
    this.log.debug('Handshake failed', { connectionId: this.connectionId, message });
    this.#transport.send(writeHandshakeResponse(message));
    this.#end(error);
  }

  /** Joined or left a group (on this server): the session's record follows. */
  groupsChanged(): void {
    // A detached session may have moved to another node: only the node the client is on writes its record.
    if (this.#attached) this.session?.changed();
  }

  /** What the session store keeps of this connection now (`undefined` unless stateful and open). */
  checkpoint(): SessionCheckpoint | undefined {
    const sequence = this.#sequence;
    if (!sequence || this.#state !== 'open') return undefined;
    return {
      protocol: this.protocol.name,
      acked: sequence.acked,
      received: sequence.latestReceived,
      unacked: sequence.unacked(),
      overflowed: sequence.overflowed,
      bound: sequence.lastSent + SESSION_WINDOW,
    };
  }

  /**
   * Graceful shutdown of a stateful connection whose session is kept: a last record for the server the
   * client reconnects to, then the transport is cut without a Close message, so the client resumes the
   * session there (the official client reconnects its transport once, to the same URL). False when the
   * session cannot move (it is then closed as usual by the caller).
   */
  async handOff(): Promise<boolean> {
    const session = this.session;
    if (!session || !this.checkpoint() || this.#sequence!.overflowed) return false;
    // Nothing more reaches the client from here: what still arrives is kept for the record.
    const attached = this.#attached;
    this.#attached = false;
    if (!(await session.handOff()) || this.#state !== 'open') {
      this.#attached = attached && this.#state === 'open';
      return false;
    }
    this.handedOff = true;
    clearTimeout(this.#detachTimer);
    this.#transport.abort();
    this.#end(undefined);
    return true;
  }

  /**
   * Takes over a session another server held (it died or drained): the handshake is the record's, the
   * sequence continues from what the client acknowledged. Reading waits until `adopt` (called once the
   * protocol is set) settles: it resolves with the frames to resend once the lifetime manager holds the
   * connection again; `release` then lets what arrived meanwhile follow them.
   */
  resumeAdopted(
    protocolName: string,
    acked: number,
    received: number,
    bound: number,
    adopt: () => Promise<{ frames: readonly Uint8Array[]; release(): void }>,
  ): void {
    const protocol = this.protocols.get(protocolName);
    if (!protocol || this.#state !== 'handshake') {
      this.#end(new ProtocolError(`The session's protocol '${protocolName}' is not offered here.`));
      return;
    }
    this.#protocol = protocol;
    this.settings.connections.opened(this.#transport.kind, protocol.name);
    this.#reader = new RecordReader(protocol.transferFormat, this.settings.maximumReceiveMessageSize);
    this.#sequence = SequenceBuffer.adopted(this.settings.statefulReconnectBufferSize, acked, received);
    this.#state = 'open';
    this.pauseReceiving(ReadHold.Handshake);
    this.ready = adopt().then(
      ({ frames, release }) => {
        if (this.#state !== 'open') return false;
        this.#transport.send(protocol.writeMessage({ type: MessageType.Sequence, sequenceId: acked + 1 }));
        for (const frame of frames) this.#emit(frame, true);
        // The old node may have sent ids up to `bound` after its record: the client drops ids it has as
        // repeats, so fill them with completions of no invocation (the client ignores those: its own
        // invocation ids are numbers); new frames then get ids past whatever it holds.
        if (acked + frames.length < bound) {
          const filler = protocol.writeMessage({ type: MessageType.Completion, invocationId: FILLER_ID });
          for (let id = acked + frames.length; id < bound; id++) this.#emit(filler, true);
        }
        release();
        this.resumeReceiving(ReadHold.Handshake);
        return true;
      },
      (error: unknown) => {
        this.log.warn('Adopting a session failed', { connectionId: this.connectionId, error });
        this.close(error instanceof Error ? error : new Error(String(error)), { sendClose: false });
        return false;
      },
    );
  }

  authenticationExpired(now: number): boolean {
    return (
      this.settings.closeOnAuthenticationExpiration &&
      now > authenticationExpiry(this.claims, this.settings.jwtClockSkew)
    );
  }

  /**
   * The hub's heartbeat, once a second: keep-alive pings, client and handshake timeouts, and the end of an
   * expired authentication (read from the claims the connection keeps anyway: no field per connection).
   */
  tick(now: number): void {
    if (this.#state === 'closed' || !this.#attached) return;
    this.session?.refresh(now);
    if (this.#state === 'open' && this.authenticationExpired(now)) {
      this.close(new UnauthorizedError('The access token expired.'));
      return;
    }
    // A client is not timed out for what this server does not read (its pings wait behind the pause).
    if (this.#paused) this.#keepAlive.received(now);
    switch (this.#keepAlive.due(this.#state === 'open', now)) {
      case 'handshake-timeout':
        this.#failHandshake('Handshake was canceled.');
        return;
      case 'client-timeout':
        this.close(
          new ProtocolError("Client hasn't sent a message/ping within the configured ClientTimeoutInterval."),
        );
        return;
      case 'ping':
        this.send({ type: MessageType.Ping });
        return;
      default:
        return;
    }
  }
}
