import { InvalidArgumentError } from '@backplane/core';
import { authenticationExpiry } from './auth.js';
import type { CloseOptions } from './connection-settings.js';
import { SlowConsumerError, UnauthorizedError } from './errors.js';
import type { HubHttpContext, TransportRequest } from './http-request.js';
import type { HubServerStats } from './hub-server-stats.js';
import type { Claims } from './jwt.js';
import type { Heartbeat, HeartbeatTarget } from './keep-alive.js';
import { ResumeGate } from './resume-gate.js';
import type { TransportConnection } from './transport-connection.js';
import type { TransportKind, TransportSender } from './transport-sender.js';

/** A message of a raw connection: text, or bytes. */
export type RawMessage = string | Uint8Array;

/**
 * A client connection of a connection handler (`HubServer.mapConnectionHandler`): negotiate, the
 * transports, connection tokens and authentication as for a hub, then raw messages both ways, with no hub
 * protocol and no handshake (ASP.NET Core's `ConnectionContext`).
 *
 * Iterate it for the client's messages: each WebSocket message, or each POST body of long polling and
 * Server-Sent Events, is one message, a `string` when the client sent text (a text frame; a POST that is not
 * `application/octet-stream`) and a `Uint8Array` when it sent bytes. The iteration ends when the connection
 * does. Boundaries are the transports' own, as in ASP.NET Core (whose handlers see a byte stream): the
 * official client joins sends queued while one is in flight, and a long poll answers with every send since
 * the previous poll, concatenated. Delimit your messages if they must survive every transport.
 */
export interface RawConnection extends AsyncIterable<RawMessage> {
  /** The connection's id: negotiate's (the official client's `connectionId`), or a new one without negotiate. */
  readonly connectionId: string;
  /** From the JWT (`sub` by default, see `userIdProvider`), or undefined when anonymous. */
  readonly userIdentifier: string | undefined;
  /** The verified JWT's claims (none when anonymous). */
  readonly claims: Claims;
  /** The transport the connection runs on. */
  readonly transport: TransportKind;
  /** The HTTP request that opened the transport (without the access token and the connection token). */
  readonly http: HubHttpContext;
  /** Aborted when the connection ends, whichever side ends it. */
  readonly connectionAborted: AbortSignal;
  /**
   * Sends one message: a `string` as text (a WebSocket text frame), a `Uint8Array` as bytes (a binary frame;
   * Server-Sent Events carry text only and throw `InvalidArgumentError`). Ignored once the connection is
   * closed. A client that does not read is closed once more than the endpoint's `transportMaxBufferSize`
   * bytes wait for it (`SlowConsumerError`).
   */
  send(data: RawMessage): void;
  /** Ends the connection (a WebSocket is closed with 1000; a long-polling client's next poll gets 204). */
  close(): void;
}

/**
 * Serves the connections of a path mapped with `HubServer.mapConnectionHandler`, one call per connection
 * (ASP.NET Core's `ConnectionHandler.OnConnectedAsync`). The connection ends when the returned promise
 * settles (a rejection is logged), or when the function returns if it returns no promise.
 */
export type ConnectionHandler = (connection: RawConnection) => void | Promise<void>;

/** The resolved options a raw connection needs. */
export interface RawConnectionSettings {
  /** Bytes of messages the handler has not read before the connection stops reading its client. */
  readonly applicationMaxBufferSize: number;
  /** Bytes that may wait to be sent to a client before it is closed as a slow consumer. */
  readonly transportMaxBufferSize: number;
  /** Close a connection once its JWT expires (`exp` of its claims plus `jwtClockSkew`). */
  readonly closeOnAuthenticationExpiration: boolean;
  /** Leeway on a JWT's `exp`, in seconds. */
  readonly jwtClockSkew: number;
  readonly stats: HubServerStats;
}

const decoder = new TextDecoder();
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/** One raw connection held by this node (the endpoint's side; the handler gets its {@link RawConnection}). */
export class RawConnectionContext implements TransportConnection, HeartbeatTarget {
  readonly key: string;
  readonly connectionId: string;
  readonly userIdentifier: string | undefined;
  readonly claims: Claims;
  readonly request: TransportRequest;
  readonly transport: TransportSender;
  /** What the handler gets. */
  readonly handle: RawConnection;
  readonly binaryFrames = false;
  readonly awaitingReconnect = false;
  readonly canResume = false;
  posting = false;
  readonly #settings: RawConnectionSettings;
  readonly #heartbeat: Heartbeat;
  readonly #onClosed: (connection: RawConnectionContext, error: Error | undefined) => void;
  readonly #aborted = new AbortController();
  /** Messages the handler has not read yet, and their size in bytes. */
  readonly #queue: Array<{ message: RawMessage; bytes: number }> = [];
  #queuedBytes = 0;
  /** Reads of the handler waiting for a message. */
  readonly #readers: Array<(result: IteratorResult<RawMessage, undefined>) => void> = [];
  #paused = false;
  /** What waits for reading to resume (a POST); released on resume or close. */
  readonly #resumeGate = new ResumeGate();
  #closed = false;

  constructor(
    init: {
      key: string;
      connectionId: string;
      userIdentifier: string | undefined;
      claims: Claims;
      transport: TransportSender;
      request: TransportRequest;
    },
    settings: RawConnectionSettings,
    heartbeat: Heartbeat,
    onClosed: (connection: RawConnectionContext, error: Error | undefined) => void,
  ) {
    this.key = init.key;
    this.connectionId = init.connectionId;
    this.userIdentifier = init.userIdentifier;
    this.claims = init.claims;
    this.request = init.request;
    this.transport = init.transport;
    this.#settings = settings;
    this.#heartbeat = heartbeat;
    this.#onClosed = onClosed;
    this.handle = new RawConnectionHandle(this);
    if (
      settings.closeOnAuthenticationExpiration &&
      Number.isFinite(authenticationExpiry(init.claims, settings.jwtClockSkew))
    )
      heartbeat.add(this);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get signal(): AbortSignal {
    return this.#aborted.signal;
  }

  receive(data: Uint8Array, binary: boolean): void {
    if (this.#closed) return;
    const message: RawMessage = binary ? data : decoder.decode(data);
    const reader = this.#readers.shift();
    if (reader) return void reader({ done: false, value: message });
    this.#queue.push({ message, bytes: data.byteLength });
    this.#queuedBytes += data.byteLength;
    if (!this.#paused && this.#queuedBytes > this.#settings.applicationMaxBufferSize) {
      // Backpressure: the client is held back by its own buffers until the handler has read half.
      this.#paused = true;
      this.#settings.stats.receivePauses++;
      this.transport.pause();
    }
  }

  /** The handler's next message; done once the connection has ended and every message was read. */
  next(): Promise<IteratorResult<RawMessage, undefined>> {
    const entry = this.#queue.shift();
    if (entry) {
      this.#queuedBytes -= entry.bytes;
      if (this.#paused && this.#queuedBytes <= this.#settings.applicationMaxBufferSize / 2) this.#resume();
      return Promise.resolve({ done: false, value: entry.message });
    }
    if (this.#closed) return Promise.resolve(DONE);
    return new Promise((resolve) => this.#readers.push(resolve));
  }

  receiving(): Promise<void> {
    return this.#resumeGate.wait(this.#paused && !this.#closed);
  }

  #resume(): void {
    this.#paused = false;
    this.transport.resume();
    this.#resumeGate.release();
  }

  send(data: RawMessage): void {
    if (this.#closed) return;
    const text = typeof data === 'string';
    if (!text && !this.transport.binary)
      throw new InvalidArgumentError('Server-Sent Events carry text only: send a string.');
    const bytes = text ? Buffer.from(data) : data;
    const waiting = this.transport.bufferedAmount;
    const limit = this.#settings.transportMaxBufferSize;
    if (waiting > 0 && waiting + bytes.byteLength > limit) {
      this.#settings.stats.slowConsumerCloses++;
      this.transport.abort();
      this.close(new SlowConsumerError(waiting, limit));
      return;
    }
    this.transport.send(bytes, !text);
  }

  transportLost(error?: Error): void {
    this.close(error);
  }

  /** Raw connections have no stateful reconnect. */
  reattach(): boolean {
    return false;
  }

  close(error?: Error, _options?: CloseOptions): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#heartbeat.delete(this);
    if (this.#paused) this.#resume(); // a WebSocket close handshake needs the client's answer read
    this.transport.close();
    for (const reader of this.#readers.splice(0)) reader(DONE);
    this.#aborted.abort();
    this.#onClosed(this, error);
  }

  authenticationExpired(now: number): boolean {
    return (
      this.#settings.closeOnAuthenticationExpiration &&
      now > authenticationExpiry(this.claims, this.#settings.jwtClockSkew)
    );
  }

  /** Once a second when the connection's JWT can expire: closes it once it has. */
  tick(now: number): void {
    if (!this.#closed && this.authenticationExpired(now))
      this.close(new UnauthorizedError('The access token expired.'));
  }
}

/** The handler's view of a {@link RawConnectionContext}. */
class RawConnectionHandle implements RawConnection {
  readonly #context: RawConnectionContext;

  constructor(context: RawConnectionContext) {
    this.#context = context;
  }

  get connectionId(): string {
    return this.#context.connectionId;
  }

  get userIdentifier(): string | undefined {
    return this.#context.userIdentifier;
  }

  get claims(): Claims {
    return this.#context.claims;
  }

  get transport(): TransportKind {
    return this.#context.transport.kind;
  }

  get http(): HubHttpContext {
    return this.#context.request;
  }

  get connectionAborted(): AbortSignal {
    return this.#context.signal;
  }

  send(data: RawMessage): void {
    this.#context.send(data);
  }

  close(): void {
    this.#context.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<RawMessage, undefined> {
    const context = this.#context;
    return {
      next: () => context.next(),
      // Leaving a `for await` early stops nothing: messages wait for the next read (or the end).
      return: () => Promise.resolve(DONE),
    };
  }
}
