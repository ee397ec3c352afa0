import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { SessionRecord } from '@backplane/core';
import { authenticate, authenticationExpiry, type Identity } from './auth.js';
import type { RedeemableTicket } from './connection-token.js';
import { EndpointConnections } from './endpoint-connections.js';
import {
  ConnectionTokenError,
  type ForbiddenError,
  ShuttingDownError,
  type UnauthorizedError,
} from './errors.js';
import { refuse, refuseUpgradeFor, text, transportNotSupported } from './http-answers.js';
import type { TransportRequest } from './http-request.js';
import { HttpTransports } from './http-transports.js';
import {
  AVAILABLE_TRANSPORTS,
  type AvailableTransport,
  negotiateResponse,
  negotiateVersion,
} from './negotiate.js';
import { ForwardedExchange } from './relay/forwarded-exchange.js';
import type { ForwardedAnswer, ForwardedRequest } from './relay/forwarded-http.js';
import { RELAYED_ANSWER_MAX_BYTES, type RelayLink, TransportRelay } from './relay/transport-relay.js';
import { type Admission, TransportAdmission } from './transport-admission.js';
import type { TransportConnection } from './transport-connection.js';
import type { TransportSender } from './transport-sender.js';
import type { TransportSettings } from './transport-settings.js';
import type { Writer } from './transports/write-batcher.js';
import { WebSocketUpgrades } from './websocket-upgrades.js';

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
 *
 * This class routes requests and answers negotiate; admission (`transport-admission`), the HTTP transports
 * (`http-transports`), WebSocket upgrades (`websocket-upgrades`), the connection registry
 * (`endpoint-connections`) and forwarding (`relay/`) are their own modules.
 */
export abstract class TransportEndpoint<C extends TransportConnection> {
  /** The connections this node holds here, and closed long-polling ones whose last bytes wait for a poll. */
  readonly #connections: EndpointConnections<C>;
  /** Who may open or resume a transport: connection tokens, access tokens, sockets without negotiate. */
  readonly #admission: TransportAdmission;
  /** Server-Sent Events, long polling, sends and ends of the connections this node holds. */
  readonly #http: HttpTransports<C>;
  /** WebSocket upgrades, and the sockets this node holds. */
  readonly #webSockets: WebSocketUpgrades<C>;
  /** Cleanups still running (a hub's `onDisconnected`, a handler's end), awaited by `close`. */
  readonly #disconnecting = new Set<Promise<void>>();
  /** What negotiate lists: the allowed transports, in SignalR's order. */
  readonly #availableTransports: readonly AvailableTransport[];
  readonly #writer: Writer;
  readonly #maxPostBody: number;
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
    this.#connections = new EndpointConnections(settings.disconnectTimeout);
    this.#admission = new TransportAdmission(path, settings, {
      closing: () => this.#closing,
      createConnectionId: () => this.createConnectionId(),
      keepsConnectionId: (connectionId) => this.keepsConnectionId(connectionId),
    });
    this.#http = new HttpTransports(
      this.#connections,
      this.#admission,
      settings,
      shape,
      (key, admission, transport, request) => this.#accept(key, admission, transport, request),
    );
    this.#availableTransports = AVAILABLE_TRANSPORTS.filter((t) => settings.transports.has(t.transport));
    this.onSocketError = (error) => settings.log.debug('Socket error', { path, error });
    this.#webSockets = new WebSocketUpgrades(
      this.#connections,
      this.#admission,
      settings,
      shape.writer,
      shape.maxPayload,
      (key, admission, transport, request) => this.#accept(key, admission, transport, request),
      {
        find: (key) => this.findSession(key),
        adopt: (key, record, ticket, transport, request) => {
          this.settings.redeemed.add(ticket);
          const connection = this.adoptSession(key, record, ticket, transport, request);
          this.#connections.byToken.set(key, connection);
          return connection;
        },
      },
    );
  }

  get connectionCount(): number {
    return this.#connections.byToken.size;
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

  /**
   * A session another node held, kept in the session store under a token's `key`, that a WebSocket resuming
   * it can take over here. None by default (only hubs keep sessions).
   */
  protected findSession(_key: string): Promise<SessionRecord | undefined> {
    return Promise.resolve(undefined);
  }

  /** Makes the connection that adopts `record` (only called for a record {@link findSession} returned). */
  protected adoptSession(
    _key: string,
    _record: SessionRecord,
    _ticket: RedeemableTicket,
    _transport: TransportSender,
    _request: TransportRequest,
  ): C {
    throw new Error('This endpoint keeps no sessions.');
  }

  /**
   * Lets a connection go at shutdown: by default a Close allowing reconnect (clients with automatic
   * reconnect open a new connection on another node). A hub hands sessions it keeps to another node.
   */
  protected shutDown(connection: C): void | Promise<void> {
    connection.close(undefined, { allowReconnect: true });
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
    if (method === 'POST') return this.#http.post(req, res, key);
    if (method === 'DELETE') return this.#http.delete(res, key);
    const kind = (req.headers.accept ?? '').includes('text/event-stream')
      ? 'ServerSentEvents'
      : 'LongPolling';
    if (!this.settings.transports.has(kind)) return void text(res, 404, transportNotSupported(kind));
    if (kind === 'ServerSentEvents') return this.#http.serverSentEvents(req, res, url, token, key);
    return this.#http.longPoll(req, res, url, token, key);
  }

  /**
   * The connection id a request should be forwarded for: its token was negotiated on another node, which
   * holds (or opens) its connection, and this node holds nothing under its key.
   */
  #remoteOwner(token: string, key: string): string | undefined {
    if (!this.#relay || this.#connections.byToken.has(key) || this.#connections.drainingPolls.has(key))
      return undefined;
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
    else if (request.events) this.#http.relayedEvents(req, res, url, token, key, request.events);
    else if (request.method === 'POST') await this.#http.post(req, res, key);
    else if (request.method === 'DELETE') this.#http.delete(res, key);
    else if (!this.settings.transports.has('LongPolling'))
      text(res, 404, transportNotSupported('LongPolling'));
    else this.#http.longPoll(req, res, url, token, key, RELAYED_ANSWER_MAX_BYTES);
    return answer;
  }

  /**
   * A WebSocket upgrade. A socket without negotiate (`skipNegotiation`, no `id`) to an endpoint that
   * authorizes is checked first: it has no connection token to show that negotiate admitted it.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void | Promise<void> {
    if (!this.authorizes || url.searchParams.has('id') || this.#closing)
      return this.#webSockets.upgrade(req, socket, head, url);
    let identity: Identity;
    try {
      identity = authenticate(req, url, this.settings);
    } catch (error) {
      return void refuseUpgradeFor(socket, error);
    }
    const refusal = this.refusal(identity, req, url);
    if (!refusal) return this.#webSockets.upgrade(req, socket, head, url);
    return refusal.then((refused) =>
      refused ? refuseUpgradeFor(socket, refused) : this.#webSockets.upgrade(req, socket, head, url),
    );
  }

  /**
   * Graceful shutdown: refuses new connections, lets every connection go ({@link shutDown}: a Close allowing
   * reconnect, or a hub's kept session handed to another node), waits up to `timeoutMs` for that, for
   * sockets to close and cleanups to finish, then drops what is left.
   */
  async close(timeoutMs: number): Promise<void> {
    this.#closing = true;
    const deadline = sleep(timeoutMs);
    const leaving = [...this.#connections.byToken.values()].map((c) => this.shutDown(c));
    await Promise.race([Promise.allSettled(leaving), deadline.promise]);
    await this.#webSockets.closeSockets(deadline.promise);
    await Promise.race([Promise.allSettled([...this.#disconnecting]), deadline.promise]);
    deadline.cancel();
    this.stop();
    this.#webSockets.close();
  }

  /**
   * A connection ended: unregisters it (a long-polling one whose last bytes wait for a poll stays reachable
   * for that poll, `disconnectTimeout` at most).
   */
  protected release(c: C): void {
    this.#connections.release(c);
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

  /** Creates and registers a connection under `key` (`ConnectionTokens.keyOf` its token). */
  #accept(key: string, admission: Admission, transport: TransportSender, request: TransportRequest): C {
    if (admission.ticket) this.settings.redeemed.add(admission.ticket);
    const connection = this.connect(key, admission, transport, request);
    this.#connections.byToken.set(key, connection);
    this.settings.log.debug('Connection accepted', {
      connectionId: connection.connectionId,
      transport: transport.kind,
      userId: admission.userId,
    });
    return connection;
  }
}

function sleep(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}
