import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '@backplane/core';
import { ProtocolError } from '@backplane/hub-protocol';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  type AuthSettings,
  authenticate,
  authenticationExpiry,
  bearerChallenge,
  type Identity,
} from './auth.js';
import type { ConnectionTokens, RedeemableTicket, RedeemedTokens } from './connection-token.js';
import { ConnectionTokenError, ForbiddenError, ShuttingDownError, UnauthorizedError } from './errors.js';
import { guard } from './guard.js';
import { TransportRequest } from './http-request.js';
import type { TransportKind, TransportSender } from './hub-connection-context.js';
import type { HubServerStats } from './hub-server-stats.js';
import {
  AVAILABLE_TRANSPORTS,
  type AvailableTransport,
  negotiateResponse,
  negotiateVersion,
} from './negotiate.js';
import { messageTooLarge } from './record-reader.js';
import { ForwardedExchange } from './relay/forwarded-exchange.js';
import type { ForwardedAnswer, ForwardedRequest } from './relay/forwarded-http.js';
import { RELAYED_ANSWER_MAX_BYTES, type RelayLink, TransportRelay } from './relay/transport-relay.js';
import type { TransportConnection } from './transport-connection.js';
import { LongPollingSender } from './transports/long-polling.js';
import { ServerSentEventsSender } from './transports/server-sent-events.js';
import { WebSocketSender } from './transports/websocket.js';
import {
  createWebSocketListeners,
  listen,
  type WebSocketListeners,
} from './transports/websocket-listeners.js';
import type { Writer } from './transports/write-batcher.js';

/** Settings of an endpoint's negotiate and transports (resolved defaults of the server's and its own options). */
export interface TransportSettings extends AuthSettings {
  readonly tokens: ConnectionTokens;
  readonly redeemed: RedeemedTokens;
  readonly connectionTokenTtl: number;
  /** The transports clients may use (negotiate lists only these; the others are refused with 404). */
  readonly transports: ReadonlySet<TransportKind>;
  readonly pollTimeout: number;
  readonly disconnectTimeout: number;
  readonly maximumReceiveMessageSize: number;
  readonly stats: HubServerStats;
  readonly log: Logger;
}

/** A transport request's identity and the connection it opens. */
export interface Admission extends Identity {
  readonly connectionId: string;
  readonly statefulReconnect: boolean;
  readonly ticket?: RedeemableTicket;
}

/** How an endpoint's kind of connection is read and made. */
export interface EndpointShape {
  /** Where the senders put what connections send (batched per event-loop iteration, or at once). */
  readonly writer: Writer;
  /** The largest WebSocket message the socket layer reads, in bytes. */
  readonly maxPayload: number;
  /** The largest POST body, in bytes. */
  readonly maxPostBody: number;
  /** Long polling: a poll after the close gets 204 even when nothing was left for it. */
  readonly announcePollEnd: boolean;
}

/**
 * One mapped path: negotiate, the three transports (WebSockets, Server-Sent Events, long polling), their
 * connection tokens and authentication, and the connections this node holds there. What a connection
 * does with its bytes is the subclass's: a hub (`HubEndpoint`) or a connection handler
 * (`ConnectionHandlerEndpoint`).
 */
export abstract class TransportEndpoint<C extends TransportConnection> {
  /** Connections by the key of their token (`ConnectionTokens.keyOf`; every transport addresses them by token). */
  readonly #byToken = new Map<string, C>();
  /** Closed long-polling connections whose last bytes (a Close message) the client has not polled yet. */
  readonly #drainingPolls = new Map<string, LongPollingSender>();
  readonly #sockets = new Set<WebSocket>();
  /** Cleanups still running (a hub's `onDisconnected`, a handler's end), awaited by `close`. */
  readonly #disconnecting = new Set<Promise<void>>();
  readonly #wss: WebSocketServer;
  /** One set of socket listeners for every socket of this endpoint (no closures per connection). */
  readonly #socketListeners: WebSocketListeners;
  /** What negotiate lists: the allowed transports, in SignalR's order. */
  readonly #availableTransports: readonly AvailableTransport[];
  readonly #writer: Writer;
  readonly #maxPostBody: number;
  readonly #announcePollEnd: boolean;
  /** Forwards the HTTP transports of connections other nodes own (none for raw connections). */
  #relay: TransportRelay | undefined;
  /**
   * Logs an error of a request's socket or response (a client that went away): one function for every
   * request of this endpoint, since a listener closing over the request would live as long as an idle socket.
   */
  readonly onSocketError: (error: Error) => void;
  #closing = false;

  constructor(
    readonly path: string,
    readonly settings: TransportSettings,
    shape: EndpointShape,
  ) {
    this.#writer = shape.writer;
    this.#maxPostBody = shape.maxPostBody;
    this.#announcePollEnd = shape.announcePollEnd;
    this.#availableTransports = AVAILABLE_TRANSPORTS.filter((t) => settings.transports.has(t.transport));
    this.#socketListeners = createWebSocketListeners(settings.log, (ws) => this.#sockets.delete(ws));
    this.onSocketError = (error) => settings.log.debug('Socket error', { path, error });
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false, // the endpoint tracks its sockets itself
      maxPayload: shape.maxPayload,
    });
  }

  get connectionCount(): number {
    return this.#byToken.size;
  }

  /** Negotiate offers stateful reconnect when the client asks. */
  protected abstract get offersStatefulReconnect(): boolean;

  /** A new connection id of this node. */
  protected abstract createConnectionId(): string;

  /** Whether a connection id negotiated (on any node) can be kept by a connection this node opens. */
  protected abstract keepsConnectionId(connectionId: string): boolean;

  /** Makes the connection a transport request opens (the endpoint registers it). */
  protected abstract connect(
    key: string,
    admission: Admission,
    transport: TransportSender,
    request: TransportRequest,
  ): C;

  /**
   * Serves POSTs, polls and DELETEs (and Server-Sent Events streams) for connections another node owns
   * through `link`, so the HTTP transports need no sticky sessions. Called once, by a subclass whose
   * connection ids name their owner.
   */
  protected relayThrough(link: RelayLink): void {
    this.#relay = new TransportRelay(
      link,
      { pollTimeout: this.settings.pollTimeout, maxPostBody: this.#maxPostBody, log: this.settings.log },
      this.#writer,
    );
  }

  /** Stops what the subclass runs for all its connections (after `close` let them go). */
  protected stop(): void {}

  /** Whether {@link refusal} may refuse anyone (a hub with an `authorize` rule). */
  protected get authorizes(): boolean {
    return false;
  }

  /**
   * Why this endpoint refuses an authenticated `identity` at negotiate (or on a socket without negotiate),
   * if it does: a hub's `authorize` rule. None by default.
   */
  protected refusal(
    _identity: Identity,
    _req: IncomingMessage,
    _url: URL,
  ): Promise<UnauthorizedError | ForbiddenError | undefined> | undefined {
    return undefined;
  }

  async handleRequest(req: IncomingMessage, res: ServerResponse, subpath: string, url: URL): Promise<void> {
    if (subpath === '/negotiate') {
      if (req.method !== 'POST') return void res.writeHead(405, { Allow: 'POST' }).end();
      return this.#negotiate(req, res, url);
    }
    if (subpath !== '') return void res.writeHead(404).end();
    const method = req.method;
    if (method !== 'GET' && method !== 'POST' && method !== 'DELETE')
      return void res.writeHead(405, { Allow: 'GET, POST, DELETE' }).end();
    const token = url.searchParams.get('id');
    if (!token) return void text(res, 400, 'Connection ID required');
    // Only an authentic token yields the key its connection is filed under.
    const key = this.settings.tokens.keyOf(token);
    if (!key) return void text(res, 404, new ConnectionTokenError().message);
    const owner = this.#remoteOwner(token, key);
    if (owner !== undefined) return this.#forward(req, res, url, owner);
    if (method === 'POST') return this.#post(req, res, key);
    if (method === 'DELETE') return this.#delete(res, key);
    const kind = (req.headers.accept ?? '').includes('text/event-stream')
      ? 'ServerSentEvents'
      : 'LongPolling';
    if (!this.settings.transports.has(kind)) return void text(res, 404, transportNotSupported(kind));
    if (kind === 'ServerSentEvents') return this.#serverSentEvents(req, res, url, token, key);
    return this.#longPoll(req, res, url, token, key);
  }

  /**
   * The connection id a request should be forwarded for: its token was negotiated on another node, which
   * holds (or opens) its connection, and this node holds nothing under its key.
   */
  #remoteOwner(token: string, key: string): string | undefined {
    if (!this.#relay || this.#byToken.has(key) || this.#drainingPolls.has(key)) return undefined;
    const connectionId = this.settings.tokens.read(token)?.connectionId;
    return connectionId !== undefined && this.#relay.isRemote(connectionId) ? connectionId : undefined;
  }

  #forward(req: IncomingMessage, res: ServerResponse, url: URL, connectionId: string): Promise<void> {
    const relay = this.#relay!;
    const events = req.method === 'GET' && (req.headers.accept ?? '').includes('text/event-stream');
    if (!events) return relay.forward(req, res, url, this.path, connectionId);
    if (!this.settings.transports.has('ServerSentEvents'))
      return Promise.resolve(text(res, 404, transportNotSupported('ServerSentEvents')));
    return relay.events(req, res, url, this.path, connectionId);
  }

  /**
   * A request another node forwarded for a connection of this one: handled as if its client had sent it
   * here; resolves with the answer. `signal` aborts when the asker stops waiting.
   */
  async answerForwarded(request: ForwardedRequest, signal: AbortSignal): Promise<ForwardedAnswer> {
    const { req, res, answer } = new ForwardedExchange(request, signal);
    const url = new URL(`${request.path}${request.search}`, 'http://forwarded');
    const token = url.searchParams.get('id');
    const key = token ? this.settings.tokens.keyOf(token) : undefined;
    if (!token || !key) text(res, 404, new ConnectionTokenError().message);
    else if (request.events) this.#relayedEvents(req, res, url, token, key, request.events);
    else if (request.method === 'POST') await this.#post(req, res, key);
    else if (request.method === 'DELETE') this.#delete(res, key);
    else if (!this.settings.transports.has('LongPolling'))
      text(res, 404, transportNotSupported('LongPolling'));
    else this.#longPoll(req, res, url, token, key, RELAYED_ANSWER_MAX_BYTES);
    return answer;
  }

  /**
   * A Server-Sent Events stream another node holds for a connection of this one: `open` opens the
   * connection (buffered here like long polling), `poll` takes what its buffer holds (a DELETE ends it).
   */
  #relayedEvents(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    token: string,
    key: string,
    step: 'open' | 'poll',
  ): void {
    const existing = this.#byToken.get(key);
    const relayed =
      existing?.transport.kind === 'ServerSentEvents' && existing.transport instanceof LongPollingSender;
    if (step === 'open') {
      if (req.method !== 'GET') return void res.writeHead(405, { Allow: 'GET' }).end();
      if (existing) return void text(res, 409, 'Connection already has a transport.');
      if (!this.settings.transports.has('ServerSentEvents'))
        return void text(res, 404, transportNotSupported('ServerSentEvents'));
      return void this.#openPolled(req, res, url, token, key, true);
    }
    if (req.method === 'DELETE') {
      if (relayed) existing!.close(undefined, { sendClose: false });
      this.#drainingPolls.delete(key);
      return void text(res, relayed ? 202 : 404, relayed ? '' : 'No Connection with that ID');
    }
    const draining = this.#drainingPolls.get(key);
    if (draining) {
      draining.poll(res, RELAYED_ANSWER_MAX_BYTES);
      if (!draining.draining) this.#drainingPolls.delete(key);
      return;
    }
    if (!relayed) return void text(res, 404, 'No Connection with that ID');
    (existing!.transport as LongPollingSender).poll(res, RELAYED_ANSWER_MAX_BYTES);
  }

  /**
   * A WebSocket upgrade. A socket without negotiate (`skipNegotiation`, no `id`) to an endpoint that
   * authorizes is checked first: it has no connection token to show that negotiate admitted it.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void | Promise<void> {
    if (!this.authorizes || url.searchParams.has('id') || this.#closing)
      return this.#upgrade(req, socket, head, url);
    let identity: Identity;
    try {
      identity = authenticate(req, url, this.settings);
    } catch (error) {
      return void refuseUpgradeFor(socket, error);
    }
    const refusal = this.refusal(identity, req, url);
    if (!refusal) return this.#upgrade(req, socket, head, url);
    return refusal.then((refused) =>
      refused ? refuseUpgradeFor(socket, refused) : this.#upgrade(req, socket, head, url),
    );
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    const id = url.searchParams.get('id');
    // Only an upgrade without any id is a skipNegotiation socket; an empty one is a malformed request.
    if (id === '') return void refuseUpgrade(socket, '400 Bad Request');
    const token = id ?? undefined;
    // Only an authentic token yields the key its connection is filed under.
    const key = token && this.settings.tokens.keyOf(token);
    if (token && !key) return void refuseUpgrade(socket, '404 Not Found');
    if (!this.settings.transports.has('WebSockets'))
      return void refuseUpgrade(socket, '404 Not Found', '', transportNotSupported('WebSockets'));
    const existing = key ? this.#byToken.get(key) : undefined;
    let admission: Admission | undefined;
    if (existing) {
      try {
        this.#checkResume(req, url, token!, existing);
      } catch (error) {
        return void refuseUpgradeFor(socket, error);
      }
      if (!existing.awaitingReconnect) return void refuseUpgrade(socket, '409 Conflict');
      if (!existing.canResume) {
        // Messages were dropped from the resend buffer: end the connection; the client starts afresh.
        existing.close(
          new ProtocolError('The stateful reconnect buffer overflowed; messages cannot be replayed.'),
          { sendClose: false },
        );
        return void refuseUpgrade(socket, '404 Not Found');
      }
    } else {
      try {
        admission = token
          ? this.#redeem(req, url, token)
          : { ...this.#admitAnonymousSocket(req, url), connectionId: this.createConnectionId() };
      } catch (error) {
        return void refuseUpgradeFor(socket, error);
      }
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      this.#sockets.add(ws);
      const sender = new WebSocketSender(ws, this.#writer);
      if (existing) {
        // Stateful reconnect: the same connection continues on the new socket.
        sender.connection = existing;
        if (!existing.reattach(sender)) ws.close(1011, 'The connection cannot be resumed.');
      } else if (admission) {
        const request = new TransportRequest(req, url, true);
        sender.connection = this.#accept(key ?? `ws:${admission.connectionId}`, admission, sender, request);
        admission = undefined; // the socket's listeners share this scope: do not keep the ticket alive
      }
      listen(ws, sender, this.#socketListeners);
    });
  }

  /**
   * Graceful shutdown: refuses new connections, closes every connection (a hub's with a Close allowing
   * reconnect: the client reconnects, to another node), waits up to `timeoutMs` for sockets to close and
   * cleanups to finish, then drops what is left.
   */
  async close(timeoutMs: number): Promise<void> {
    this.#closing = true;
    for (const connection of [...this.#byToken.values()])
      connection.close(undefined, { allowReconnect: true });
    const deadline = sleep(timeoutMs);
    const socketsClosed = Promise.all(
      [...this.#sockets].map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve()))),
    );
    await Promise.race([socketsClosed, deadline.promise]);
    for (const ws of this.#sockets) ws.terminate();
    await Promise.race([Promise.allSettled([...this.#disconnecting]), deadline.promise]);
    deadline.cancel();
    this.stop();
    this.#wss.close();
  }

  /**
   * A connection ended: unregisters it (a long-polling one whose last bytes wait for a poll stays reachable
   * for that poll, `disconnectTimeout` at most).
   */
  protected release(c: C): void {
    const key = c.key;
    if (this.#byToken.get(key) === c) this.#byToken.delete(key);
    if (c.transport instanceof LongPollingSender && c.transport.draining) {
      const sender = c.transport;
      this.#drainingPolls.set(key, sender);
      setTimeout(() => {
        if (this.#drainingPolls.get(key) === sender) this.#drainingPolls.delete(key);
      }, this.settings.disconnectTimeout).unref();
    }
  }

  /** Tracks the cleanup of an ended connection (a hub's `onDisconnected`, a handler's end): `close` awaits it. */
  protected track(cleanup: Promise<void>): void {
    this.#disconnecting.add(cleanup);
    void cleanup.finally(() => this.#disconnecting.delete(cleanup));
  }

  async #negotiate(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (this.#closing) return void text(res, 503, new ShuttingDownError().message);
    let identity: Identity;
    try {
      identity = authenticate(req, url, this.settings);
    } catch (error) {
      return void refuse(res, error);
    }
    const refusal = await this.refusal(identity, req, url);
    if (refusal) return void refuse(res, refusal);
    const connectionId = this.createConnectionId();
    const statefulReconnect =
      url.searchParams.get('useStatefulReconnect') === 'true' && this.offersStatefulReconnect;
    const connectionToken = this.settings.tokens.issue({
      hub: this.path,
      connectionId,
      userId: identity.userId,
      claims: identity.claims,
      // Never longer than the JWT it was negotiated with.
      expiresAt: Math.min(
        Date.now() + this.settings.connectionTokenTtl,
        authenticationExpiry(identity.claims, this.settings.jwtClockSkew),
      ),
      statefulReconnect,
    });
    const body = negotiateResponse(
      negotiateVersion(url),
      connectionId,
      connectionToken,
      statefulReconnect,
      this.#availableTransports,
    );
    res
      .writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' })
      .end(JSON.stringify(body));
  }

  #serverSentEvents(req: IncomingMessage, res: ServerResponse, url: URL, token: string, key: string): void {
    if (this.#byToken.has(key)) return void text(res, 409, 'Connection already has a transport.');
    let admission: Admission;
    try {
      admission = this.#redeem(req, url, token);
    } catch (error) {
      return void refuse(res, error);
    }
    const connection = this.#accept(
      key,
      admission,
      new ServerSentEventsSender(res, this.#writer),
      new TransportRequest(req, url, true),
    );
    req.socket.setTimeout(0);
    res.once(
      'close',
      guard(this.settings.log, 'Server-Sent Events close', () =>
        connection.close(undefined, { sendClose: false }),
      ),
    );
  }

  #longPoll(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    token: string,
    key: string,
    maxBytes?: number,
  ): void {
    const draining = this.#drainingPolls.get(key);
    if (draining) {
      draining.poll(res, maxBytes);
      if (!draining.draining) this.#drainingPolls.delete(key);
      return;
    }
    const existing = this.#byToken.get(key);
    if (existing) {
      if (existing.transport.kind !== 'LongPolling' || !(existing.transport instanceof LongPollingSender))
        return void text(res, 400, 'Connection uses another transport.');
      if (this.#refuseExpired(existing, res)) return;
      req.socket.setTimeout(0);
      existing.transport.poll(res, maxBytes);
      return;
    }
    this.#openPolled(req, res, url, token, key, false);
  }

  /**
   * Opens a connection whose bytes wait for polls: long polling, or a Server-Sent Events stream another
   * node holds (`relayedEvents`). The first poll answers at once: it tells the client the transport is up.
   */
  #openPolled(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    token: string,
    key: string,
    relayedEvents: boolean,
  ): void {
    let admission: Admission;
    try {
      admission = this.#redeem(req, url, token);
    } catch (error) {
      return void refuse(res, error);
    }
    let connection: C | undefined;
    const sender = new LongPollingSender(
      {
        pollTimeout: this.settings.pollTimeout,
        disconnectTimeout: this.settings.disconnectTimeout,
        announceEnd: this.#announcePollEnd,
        relayedEvents,
      },
      this.#writer,
      guard(this.settings.log, 'Long polling idle', () => connection?.close(undefined, { sendClose: false })),
    );
    connection = this.#accept(key, admission, sender, new TransportRequest(req, url, false));
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': 0 }).end();
  }

  async #post(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    const connection = this.#byToken.get(key);
    if (!connection || connection.closed) return void text(res, 404, 'No Connection with that ID');
    if (connection.transport.kind === 'WebSockets')
      return void text(res, 405, 'POST requests are not allowed for WebSocket connections.');
    if (connection.posting) return void text(res, 409, 'Another send request is in progress.');
    if (this.#refuseExpired(connection, res)) return;
    connection.posting = true;
    try {
      const limit = this.#maxPostBody;
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).byteLength;
        if (size > limit) {
          connection.close(messageTooLarge(this.settings.maximumReceiveMessageSize));
          return void text(res, 413, 'Payload too large.');
        }
        chunks.push(chunk as Buffer);
      }
      const binary = (req.headers['content-type'] ?? '').startsWith('application/octet-stream');
      connection.receive(Buffer.concat(chunks), binary);
      // Backpressure: while the connection does not read, this POST is not answered, and the client sends
      // nothing more meanwhile (one POST at a time; another gets 409).
      await connection.receiving();
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end();
    } finally {
      connection.posting = false;
    }
  }

  #delete(res: ServerResponse, key: string): void {
    const connection = this.#byToken.get(key);
    if (!connection) {
      if (this.#drainingPolls.delete(key)) return void text(res, 202, '');
      return void text(res, 404, 'No Connection with that ID');
    }
    if (connection.transport.kind !== 'LongPolling')
      return void text(res, 400, 'Cannot terminate this connection using the DELETE endpoint.');
    connection.close(undefined, { sendClose: false });
    this.#drainingPolls.delete(key);
    text(res, 202, '');
  }

  /**
   * A poll or a send of an open connection after its JWT expired (`closeOnAuthenticationExpiration`): refused
   * as ASP.NET Core's per-request authentication refuses an expired token (401, `invalid_token`), and the
   * connection closed at once, as the heartbeat would close it within the second. True if refused.
   */
  #refuseExpired(connection: C, res: ServerResponse): boolean {
    if (!connection.authenticationExpired(Date.now())) return false;
    connection.close(new UnauthorizedError('The access token expired.'));
    refuse(res, new UnauthorizedError('Token expired.', { invalidToken: true }));
    return true;
  }

  /** Creates and registers a connection under `key` (`ConnectionTokens.keyOf` its token). */
  #accept(key: string, admission: Admission, transport: TransportSender, request: TransportRequest): C {
    if (admission.ticket) this.settings.redeemed.add(admission.ticket);
    const connection = this.connect(key, admission, transport, request);
    this.#byToken.set(key, connection);
    this.settings.log.debug('Connection accepted', {
      connectionId: connection.connectionId,
      transport: transport.kind,
      userId: admission.userId,
    });
    return connection;
  }

  /** A connection without negotiate (WebSockets with `skipNegotiation`): authenticated here. */
  #admitAnonymousSocket(req: IncomingMessage, url: URL): Identity & { statefulReconnect: false } {
    if (this.#closing) throw new ShuttingDownError();
    return { ...authenticate(req, url, this.settings), statefulReconnect: false };
  }

  /**
   * Opens a connection with a token from negotiate (on any node). The connection keeps negotiate's id
   * when it can (a hub: when this node minted it; a token negotiated on another node gets an id of this
   * node, since hub connection ids name their owner). A token opens one connection per node.
   */
  #redeem(req: IncomingMessage, url: URL, token: string): Admission {
    if (this.#closing) throw new ShuttingDownError();
    const ticket = this.settings.tokens.read(token);
    if (
      !ticket ||
      ticket.hub !== this.path ||
      ticket.expiresAt < Date.now() ||
      this.settings.redeemed.has(ticket)
    )
      throw new ConnectionTokenError();
    this.#checkBearer(req, url, ticket.userId);
    return {
      userId: ticket.userId,
      claims: ticket.claims,
      statefulReconnect: ticket.statefulReconnect,
      connectionId: this.keepsConnectionId(ticket.connectionId)
        ? ticket.connectionId
        : this.createConnectionId(),
      ticket,
    };
  }

  /**
   * A stateful reconnect: a new WebSocket for `existing`, found by its token's key. The whole token is
   * checked again, except its expiry (a resume may come after the token could no longer open a connection,
   * as in SignalR): it must be authentic and name this path, this connection and its user. An access token
   * sent with it must be valid and name the same user. Throws like {@link #redeem}.
   */
  #checkResume(req: IncomingMessage, url: URL, token: string, existing: C): void {
    const ticket = this.settings.tokens.read(token);
    // A ticket negotiated on another node names that node's id; this node gave the connection its own.
    const kept = ticket !== undefined && this.keepsConnectionId(ticket.connectionId);
    if (
      !ticket ||
      ticket.hub !== this.path ||
      ticket.userId !== existing.userIdentifier ||
      (kept && ticket.connectionId !== existing.connectionId)
    )
      throw new ConnectionTokenError();
    this.#checkBearer(req, url, existing.userIdentifier);
  }

  /**
   * With JWT authentication, a request that opens or resumes a transport needs a valid access token naming
   * `userId`, as every request to a hub that requires authorization does in ASP.NET Core (the connection
   * token alone is not enough). Polls and sends of an open connection are authenticated by its connection
   * token.
   */
  #checkBearer(req: IncomingMessage, url: URL, userId: string | undefined): void {
    if (!this.settings.jwtSecret) return;
    const identity = authenticate(req, url, this.settings);
    if (identity.userId !== userId)
      throw new UnauthorizedError('The access token does not match the connection.', { invalidToken: true });
  }
}

function httpStatusCode(error: unknown): number {
  if (error instanceof UnauthorizedError) return 401;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof ShuttingDownError) return 503;
  return 404;
}

/** Answers an upgrade refused by `error` (401 with a bearer challenge, 403, 503 or 404) and ends the socket. */
function refuseUpgradeFor(socket: Duplex, error: unknown): void {
  if (error instanceof UnauthorizedError)
    refuseUpgrade(socket, '401 Unauthorized', `WWW-Authenticate: ${bearerChallenge(error)}\r\n`);
  else if (error instanceof ForbiddenError) refuseUpgrade(socket, '403 Forbidden');
  else refuseUpgrade(socket, httpStatusCode(error) === 503 ? '503 Service Unavailable' : '404 Not Found');
}

/** Answers an upgrade with an HTTP error (and `headers`, whole lines, and a text `body`) and ends the socket. */
export function refuseUpgrade(socket: Duplex, status: string, headers = '', body = ''): void {
  const content = body === '' ? '' : 'Content-Type: text/plain\r\n';
  socket.end(
    `HTTP/1.1 ${status}\r\n${headers}${content}Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** ASP.NET Core's answer (404) to a request on a transport the endpoint does not allow. */
function transportNotSupported(kind: TransportKind): string {
  return `${kind} transport not supported by this end point type`;
}

/**
 * Answers a request refused by `error`: 401 with an empty body and a bearer challenge (what ASP.NET Core's
 * JWT bearer handler sends, so clients report "Unauthorized"), 403 with an empty body (its forbid), else 503
 * or 404 with the reason.
 */
function refuse(res: ServerResponse, error: unknown): void {
  if (error instanceof UnauthorizedError)
    return void res.writeHead(401, { 'WWW-Authenticate': bearerChallenge(error), 'Content-Length': 0 }).end();
  if (error instanceof ForbiddenError) return void res.writeHead(403, { 'Content-Length': 0 }).end();
  text(res, httpStatusCode(error), (error as Error).message);
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain' }).end(body);
}

function sleep(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}
