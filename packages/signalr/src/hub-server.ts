import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  boundedLogger,
  createConsoleLogger,
  type HubLifetimeManager,
  InvalidArgumentError,
  type Logger,
  type LogLimits,
  type TracingOptions,
} from '@backplane/core';
import { resolveTracing, type Tracing } from '@backplane/core/internal';
import type { HubProtocol } from '@backplane/hub-protocol';
import { type Observable, Subject } from 'rxjs';
import { subjectUserId } from './auth.js';
import { isClientAbort } from './client-abort.js';
import { ConnectionHandlerEndpoint, type ConnectionHandlerSettings } from './connection-handler-endpoint.js';
import { ConnectionTokens, RedeemedTokens } from './connection-token.js';
import { guard } from './guard.js';
import { refuseUpgrade } from './http-answers.js';
import type { HubClass } from './hub.js';
import type { HubContextClients } from './hub-clients.js';
import { type EndpointSettings, HubEndpoint } from './hub-endpoint.js';
import type { HubFilter } from './hub-filter.js';
import {
  type ConnectionHandlerOptions,
  type HubOptions,
  overlay,
  TRANSPORT_KINDS,
  validateConnectionHandlerOptions,
  validateHubOptions,
} from './hub-options.js';
import {
  ConnectionTally,
  createHubServerStats,
  type HubServerStats,
  snapshotHubServerStats,
} from './hub-server-stats.js';
import { type HubServerMeasurement, InvocationMeter } from './invocation-meter.js';
import { InvocationTracing, SIGNALR_TRACER } from './invocation-tracing.js';
import type { Claims } from './jwt.js';
import type { ConnectionHandler, RawConnection } from './raw-connection.js';
import { parseRequestTarget } from './request-target.js';
import type { TransportKind } from './transport-sender.js';
import type { TransportSettings } from './transport-settings.js';

/** The shortest HS256 secret accepted, in bytes: the size of the SHA-256 output. */
const MIN_HS256_SECRET_BYTES = 32;

/** Options of `HubServer`: connection tokens, authentication, keep-alive, transports, limits, filters. */
export interface HubServerOptions {
  /**
   * Secret shared by every node, signing connection tokens, so a negotiate on one node and the WebSocket
   * on another both work. Required in production; without it a random per-process secret is used (then
   * negotiate and transport must reach the same node). There is no built-in secret.
   * @default 32 random bytes, per process
   */
  tokenSecret?: string;
  /**
   * HS256 secret: when set, negotiate and connections require a valid JWT (`Authorization: Bearer` in any
   * case, or the `access_token` query parameter; `exp` and `nbf` must be numbers when present and are
   * checked with `jwtClockSkew` of leeway). At least 32 bytes (UTF-8), the size of the hash: shorter
   * secrets are refused. @default undefined (no authentication)
   */
  jwtSecret?: string;
  /** With `jwtSecret`: a JWT's `iss` claim must equal this. @default undefined (not checked) */
  jwtIssuer?: string;
  /**
   * With `jwtSecret`: a JWT's `aud` claim (a string or an array of strings) must be or contain this.
   * @default undefined (not checked)
   */
  jwtAudience?: string;
  /** With `jwtSecret`: leeway on a JWT's `exp` and `nbf` for clocks that differ, in seconds. @default 30 */
  jwtClockSkew?: number;
  /**
   * With `jwtSecret`: close a connection once its JWT expires (`exp` plus `jwtClockSkew`), with a Close
   * message saying there was an error and not allowing reconnect (the client needs a fresh token), checked
   * once a second; a long-polling poll or a send (POST) arriving after the expiry is refused with 401
   * (`invalid_token`) and closes the connection at once. Off, a connection outlives its token (only connecting needs a valid one), as in SignalR.
   * A connection token never outlives the JWT it was negotiated with, either way. @default false
   */
  closeOnAuthenticationExpiration?: boolean;
  /** Turns verified JWT claims into the user id (`clients.user(id)`). @default claims.sub */
  userIdProvider?: (claims: Claims) => string | undefined;
  /**
   * Without `jwtSecret`: take the user id from this query parameter of the hub URL (demos only: anyone can
   * claim any id). @default undefined (anonymous)
   */
  userIdQueryParameter?: string;
  /** How long a negotiated connection token can open a connection, in ms. @default 300_000 */
  connectionTokenTtl?: number;
  /** Ping the client after this long without sending, in ms. @default 15_000 */
  keepAliveInterval?: number;
  /** Close a client silent for this long, in ms. @default 30_000 */
  clientTimeoutInterval?: number;
  /** Close a connection whose handshake has not arrived after this long, in ms. @default 15_000 */
  handshakeTimeout?: number;
  /** Largest message a client may send, in bytes. @default 32_768 */
  maximumReceiveMessageSize?: number;
  /**
   * The transports clients may use, for every hub that does not say otherwise (`mapHub`'s `transports`).
   * Negotiate lists only these; a request on another gets 404, as in ASP.NET Core.
   * @default ['WebSockets', 'ServerSentEvents', 'LongPolling']
   */
  transports?: readonly TransportKind[];
  /** Long polling: how long a poll waits for data, in ms. @default 90_000 */
  pollTimeout?: number;
  /**
   * Long polling: close a connection with no poll for this long; stateful reconnect: how long a dropped
   * WebSocket may take to come back, in ms. @default 15_000
   */
  disconnectTimeout?: number;
  /**
   * Stateful reconnect (clients opt in with `withStatefulReconnect()`): bytes of unacknowledged messages
   * kept per connection for the resend; 0 turns the feature off. Overflowing it makes that connection start
   * afresh instead of resuming with a hole. @default 100_000
   */
  statefulReconnectBufferSize?: number;
  /**
   * Sessions that outlive their node (docs/guarantees.md): each stateful connection's session is kept in
   * the lifetime manager's session store, when its driver has one, so that the node a client reconnects to
   * after this one died or shut down adopts it (same connection id, its groups, what it had not
   * acknowledged, and in durable mode what its channels' logs hold for it since). One store write per
   * client acknowledgement (about one a second while it receives) and per invocation result.
   * @default true
   */
  keepSessions?: boolean;
  /**
   * Hub method calls one client may have running at once; more wait, in order (streams are not counted).
   * @default 1 (a client's calls run one after the other, as in SignalR)
   */
  maximumParallelInvocationsPerClient?: number;
  // Backpressure and slow consumers.
  /**
   * Hub method calls of one client that may wait for a free slot (see
   * `maximumParallelInvocationsPerClient`). When that many wait, the server stops reading that client
   * (WebSockets: the socket is paused; long polling and Server-Sent Events: its POST is answered later)
   * until half of them have run, so a client that floods calls is held back by its own buffers. Messages
   * behind the flood wait too, client-result completions included. 0 stops reading as soon as every slot
   * is taken (as SignalR does; a call that asks its own caller for a result then waits for its timeout).
   * Streams are not counted. @default 32 (calls)
   */
  maximumQueuedInvocationsPerClient?: number;
  /**
   * Items one client-to-server stream (a `Subject` the client passes to `send`, `invoke` or `stream`) holds
   * that its hub method has not read yet. When a stream holds that many, the server stops reading that
   * client (WebSockets: the socket is paused; long polling and Server-Sent Events: its POST is answered
   * later) until the method has read half of them, so a client uploading faster than the method reads is
   * held back by its own buffers (SignalR's `StreamBufferCapacity`). Counted in `stats.receivePauses`.
   * @default 10 (items, per stream)
   */
  streamBufferCapacity?: number;
  /**
   * Bytes that may wait to be sent to one client: what its socket has not taken yet plus what was sent to
   * it earlier in the same event-loop turn (long polling: what is buffered between polls). A message that
   * would take it past this closes the connection with an error instead of buffering without bound (a slow
   * consumer: a client that stopped reading; counted in `stats.slowConsumerCloses`). A single larger
   * message still goes out when nothing waits. SignalR's `TransportMaxBufferSize` makes the sender wait
   * instead; a hub server cannot hold a broadcast back for its slowest client. Raise it for clients sent
   * bursts larger than this. @default 1_048_576 (bytes)
   */
  transportMaxBufferSize?: number;
  /** Put exception details in error completions and Close messages sent to clients. @default false */
  enableDetailedErrors?: boolean;
  /**
   * Filters around every hub's method calls and connection hooks (SignalR's global hub filters), run in
   * this order, before each hub class's own `filters`. See {@link HubFilter}. @default [] (none)
   */
  filters?: readonly HubFilter[];
  /**
   * The hub protocols offered to clients, at most those each mapped hub's lifetime manager serializes for
   * (its `protocols`): a client speaking another would receive nothing sent from other servers, so
   * `mapHub` refuses such a list with `InvalidArgumentError`. Give it only to offer fewer, or to parse
   * with instances of your own under the same names.
   * @default each mapped hub's `manager.protocols`
   */
  protocols?: readonly HubProtocol[];
  /**
   * Origins allowed to call negotiate and the HTTP transports from a browser page on another origin
   * (`true`: any origin, echoed with credentials). @default none (same origin only)
   */
  corsOrigins?: readonly string[] | true;
  /**
   * Where the server logs; every line it gets is bounded by `logLimits`.
   * @default a console logger per hub, tagged with its manager's node id (per connection handler: with its path)
   */
  logger?: Logger;
  /**
   * Bounds on log lines: each field cut to `maxFieldLength` characters (default 1_024), a line repeated more
   * than `rateLimit` times (default 20) per `rateInterval` ms (default 10_000) summarized as "suppressed K
   * similar messages". Client input reaches logs (method names, error messages quoting arguments), so a
   * client must not be able to make lines large or many.
   * @default DEFAULT_LOG_LIMITS of `@backplane/core`
   */
  logLimits?: LogLimits;
  /**
   * OpenTelemetry tracing (docs/operations.md#tracing): a server span per hub method call, named
   * `{hub class}/{method}` with `rpc.system` "signalr", active while the method runs, so its sends across
   * the backplane join its trace (the lifetime manager's own `tracing` option covers those). Through
   * `@opentelemetry/api`, an optional peer dependency loaded once here: when it is not installed, or with
   * `false`, nothing is traced and no call does any tracing work.
   * @default {} (on when `@opentelemetry/api` is installed, to its global tracer provider)
   */
  tracing?: TracingOptions | false;
}

/**
 * A SignalR-protocol server: map hub classes to paths, attach to an `http.Server` (plain Node, Express,
 * Fastify's `server`), and the official `@microsoft/signalr` client connects unchanged.
 */
export class HubServer {
  readonly #options: HubServerOptions;
  /** By lower-cased path: hub paths match case-insensitively, as ASP.NET Core's routing does. */
  readonly #endpoints = new Map<string, Endpoint>();
  readonly #tokens: ConnectionTokens;
  readonly #redeemed = new RedeemedTokens();
  readonly #connections = new ConnectionTally();
  readonly #stats = createHubServerStats(this.#connections);
  readonly #measurements = new Subject<HubServerMeasurement>();
  /** The app's logger, bounded (one wrapper, so its rate limits hold across hubs). */
  readonly #log: Logger | undefined;
  /** What method calls are traced with; `undefined`: tracing off. */
  readonly #tracing: Tracing | undefined;

  constructor(options: HubServerOptions = {}) {
    const ttl = options.connectionTokenTtl;
    if (ttl !== undefined && !(Number.isFinite(ttl) && ttl > 0))
      throw new InvalidArgumentError('HubServerOptions.connectionTokenTtl must be a positive number.');
    validateHubOptions(options, 'HubServerOptions');
    if (options.tokenSecret !== undefined && options.tokenSecret.length === 0)
      throw new InvalidArgumentError('HubServerOptions.tokenSecret must not be empty.');
    if (options.jwtSecret !== undefined && Buffer.byteLength(options.jwtSecret) < MIN_HS256_SECRET_BYTES)
      throw new InvalidArgumentError(
        `HubServerOptions.jwtSecret must be at least ${MIN_HS256_SECRET_BYTES} bytes (an HS256 key shorter than the hash can be guessed offline from one token).`,
      );
    for (const key of ['jwtIssuer', 'jwtAudience'] as const)
      if (options[key] === '') throw new InvalidArgumentError(`HubServerOptions.${key} must not be empty.`);
    const skew = options.jwtClockSkew;
    if (skew !== undefined && !(Number.isFinite(skew) && skew >= 0))
      throw new InvalidArgumentError('HubServerOptions.jwtClockSkew must be 0 or more (seconds).');
    this.#options = options;
    this.#log = options.logger && boundedLogger(options.logger, options.logLimits);
    this.#tokens = new ConnectionTokens(options.tokenSecret ?? randomBytes(32).toString('base64url'));
    this.#tracing = resolveTracing(options.tracing, SIGNALR_TRACER);
  }

  /**
   * Serves `hubClass` at `path` (e.g. `/chat`: negotiate at `/chat/negotiate`, transports at `/chat`), its
   * clients reached through `manager` (started or not; the app closes it after `close()`). Paths match
   * case-insensitively, as in ASP.NET Core (`/Chat/negotiate` reaches `/chat`), so `/Chat` and `/chat` are
   * the same path. `options` override the server's for this hub only (transports, timeouts, limits);
   * invalid ones throw `InvalidArgumentError`, as the server's do.
   */
  mapHub(path: string, hubClass: HubClass, manager: HubLifetimeManager, options?: HubOptions): this {
    const { normalized, key } = this.#free(path);
    if (options) validateHubOptions(options, 'HubOptions');
    const o = overlay(this.#options, options);
    const protocols = o.protocols ?? manager.protocols;
    const serialized = new Set(manager.protocols.map((p) => p.name));
    const missing = protocols.filter((p) => !serialized.has(p.name)).map((p) => `'${p.name}'`);
    const owner = options?.protocols ? 'HubOptions' : 'HubServerOptions';
    if (missing.length > 0)
      throw new InvalidArgumentError(
        `${owner}.protocols offers ${missing.join(', ')}, which the lifetime manager of '${normalized}' does not serialize for; its clients would receive nothing from other servers. Add it to the manager's protocols, or leave ${owner}.protocols out to offer the manager's.`,
      );
    const log = this.#log ?? createConsoleLogger(manager.nodeId, { limits: o.logLimits });
    const settings: EndpointSettings = {
      ...this.#transportSettings(o, log),
      keepAliveInterval: o.keepAliveInterval ?? 15_000,
      clientTimeoutInterval: o.clientTimeoutInterval ?? 30_000,
      handshakeTimeout: o.handshakeTimeout ?? 15_000,
      statefulReconnectBufferSize: o.statefulReconnectBufferSize ?? 100_000,
      keepSessions: (o.keepSessions ?? true) && manager.sessions.available,
      detailedErrors: o.enableDetailedErrors ?? false,
      maximumParallelInvocationsPerClient: o.maximumParallelInvocationsPerClient ?? 1,
      maximumQueuedInvocationsPerClient: o.maximumQueuedInvocationsPerClient ?? 32,
      streamBufferCapacity: o.streamBufferCapacity ?? 10,
      filters: o.filters ?? [],
      connections: this.#connections,
      meter: new InvocationMeter(normalized, this.#measurements),
      tracing: this.#tracing && new InvocationTracing(this.#tracing, hubClass.name || normalized),
    };
    this.#endpoints.set(key, new HubEndpoint(normalized, hubClass, manager, protocols, settings));
    return this;
  }

  /**
   * Serves `handler` at `path` (ASP.NET Core's `MapConnectionHandler`): negotiate at `{path}/negotiate` and
   * the transports at `path`, with connection tokens and authentication as for a hub, then raw messages
   * both ways, without the hub protocol and without a handshake. `handler` is called once per connection
   * with a {@link RawConnection}; the connection ends when its promise settles. `options` override the
   * server's transport options for this path; invalid ones throw `InvalidArgumentError`. Paths are shared
   * with hubs (matched case-insensitively; one path, one endpoint).
   */
  mapConnectionHandler(path: string, handler: ConnectionHandler, options?: ConnectionHandlerOptions): this {
    const { normalized, key } = this.#free(path);
    if (typeof handler !== 'function')
      throw new InvalidArgumentError('mapConnectionHandler needs a handler function.');
    if (options) validateConnectionHandlerOptions(options);
    const o = overlay(this.#options, options);
    const log = this.#log ?? createConsoleLogger(normalized, { limits: o.logLimits });
    const settings: ConnectionHandlerSettings = {
      ...this.#transportSettings(o, log),
      applicationMaxBufferSize: options?.applicationMaxBufferSize ?? 65_536,
    };
    this.#endpoints.set(key, new ConnectionHandlerEndpoint(normalized, handler, settings));
    return this;
  }

  /**
   * A hub's clients (`all`, `group(name)`, `user(id)`, `client(id)`, ...) and `groupManager`, for HTTP
   * handlers and background jobs (SignalR's `IHubContext`). Sends reach clients on every node.
   */
  hubContext(path: string): HubContextClients {
    const endpoint = this.#endpoints.get(normalizePath(path).toLowerCase());
    if (!(endpoint instanceof HubEndpoint)) throw new InvalidArgumentError(`No hub is mapped at '${path}'.`);
    return endpoint.clients;
  }

  /** Counters since this server was made, all hubs together (a snapshot). */
  get stats(): Readonly<HubServerStats> {
    return snapshotHubServerStats(this.#stats);
  }

  /**
   * One value per hub method call once it has ended (its hub, method, outcome and duration), for counts
   * and latency histograms by method. Opt-in: calls are timed only while something subscribes, so a
   * server nobody measures pays nothing for it. The counters are in `stats`.
   */
  get measurements$(): Observable<HubServerMeasurement> {
    return this.#measurements.asObservable();
  }

  /** Connections this node holds, all hubs together. */
  connectionCount(): number {
    let count = 0;
    for (const endpoint of this.#endpoints.values()) count += endpoint.connectionCount;
    return count;
  }

  /**
   * Serves the hub paths of `server`; other requests and upgrades go to the handlers it already had
   * (an Express or Fastify app keeps working).
   */
  attach(server: Server): this {
    const previous = server.listeners('request') as Array<
      (req: IncomingMessage, res: ServerResponse) => void
    >;
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.handleRequest(req, res)) return;
      if (previous.length === 0) res.writeHead(parseRequestTarget(req.url) ? 404 : 400).end();
      for (const listener of previous) listener.call(server, req, res);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.handleUpgrade(req, socket, head) || server.listenerCount('upgrade') > 1) return;
      socket.on('error', () => {}); // nobody else listens: a reset must not become an uncaught 'error'
      refuseUpgrade(socket, parseRequestTarget(req.url) ? '404 Not Found' : '400 Bad Request');
    });
    return this;
  }

  /**
   * Handles a request if it targets a mapped hub; returns whether it did. Never throws: a failure while
   * handling it answers 500 (or closes that one response).
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    const target = parseRequestTarget(req.url);
    const match = target && this.#match(target.path);
    if (!match) return false;
    const log = match.endpoint.settings.log;
    // Hub responses are JSON, text or event streams for clients: never to be sniffed as something else.
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.on('error', match.endpoint.onSocketError);
    guard(
      log,
      'Request',
      () => {
        if (this.#cors(req, res)) return;
        return match.endpoint.handleRequest(req, res, match.subpath, target.url);
      },
      (error) => {
        if (!res.headersSent && !isClientAbort(error)) res.writeHead(500).end();
        else res.destroy();
      },
      // The path only: the query holds the connection token and the access token.
      () => ({ path: target.path }),
    )();
    return true;
  }

  /**
   * Handles a WebSocket upgrade if it targets a mapped hub; returns whether it did. Never throws: a
   * failure while handling it closes that one socket.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const target = parseRequestTarget(req.url);
    const match = target && this.#match(target.path);
    if (match?.subpath !== '') return false;
    const log = match.endpoint.settings.log;
    // The http server stopped listening for this socket's errors when it handed it over.
    socket.on('error', match.endpoint.onSocketError);
    guard(
      log,
      'Upgrade',
      () => match.endpoint.handleUpgrade(req, socket, head, target!.url),
      () => socket.destroy(),
      () => ({ path: target!.path }),
    )();
    return true;
  }

  /**
   * Graceful shutdown: refuses new connections (503); hands each session it keeps (`keepSessions`) to
   * another node (a last record in the session store, then the socket is cut without a Close message: the
   * client resumes the same session wherever the load balancer sends it; stop listening first so that it is
   * not here), and sends every other connection a Close allowing reconnect (clients with automatic
   * reconnect move to another node); then waits up to `timeoutMs` for sockets to close and `onDisconnected`
   * hooks to finish before dropping what is left. The http server and the lifetime managers stay the app's
   * to close, after this.
   */
  async close(timeoutMs = 5_000): Promise<void> {
    await Promise.all([...this.#endpoints.values()].map((endpoint) => endpoint.close(timeoutMs)));
  }

  /** `path` normalized, and its key; throws `InvalidArgumentError` if a hub or handler is mapped there. */
  #free(path: string): { normalized: string; key: string } {
    const normalized = normalizePath(path);
    const key = normalized.toLowerCase();
    const existing = this.#endpoints.get(key);
    if (existing)
      throw new InvalidArgumentError(
        `${existing instanceof HubEndpoint ? 'A hub' : 'A connection handler'} is already mapped at '${existing.path}' (paths match case-insensitively).`,
      );
    return { normalized, key };
  }

  /** What every endpoint's transports need, from the server's options overlaid with the endpoint's (`o`). */
  #transportSettings(o: HubServerOptions, log: Logger): TransportSettings & TransportLimits {
    return {
      tokens: this.#tokens,
      redeemed: this.#redeemed,
      jwtSecret: o.jwtSecret,
      jwtIssuer: o.jwtIssuer,
      jwtAudience: o.jwtAudience,
      jwtClockSkew: o.jwtClockSkew ?? 30,
      closeOnAuthenticationExpiration:
        (o.closeOnAuthenticationExpiration ?? false) && o.jwtSecret !== undefined,
      userIdProvider: o.userIdProvider ?? subjectUserId,
      userIdQueryParameter: o.userIdQueryParameter,
      connectionTokenTtl: o.connectionTokenTtl ?? 300_000,
      transports: new Set(o.transports ?? TRANSPORT_KINDS),
      maximumReceiveMessageSize: o.maximumReceiveMessageSize ?? 32_768,
      pollTimeout: o.pollTimeout ?? 90_000,
      disconnectTimeout: o.disconnectTimeout ?? 15_000,
      transportMaxBufferSize: o.transportMaxBufferSize ?? 1_048_576,
      stats: this.#stats,
      log,
    };
  }

  /** Sets CORS headers for allowed origins; answers preflights. Returns whether the request is done. */
  #cors(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    const allowed = this.#options.corsOrigins;
    if (!origin || !allowed || (allowed !== true && !allowed.includes(origin))) return false;
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Vary', 'Origin');
    if (req.method !== 'OPTIONS') return false;
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
    res.setHeader(
      'Access-Control-Allow-Headers',
      req.headers['access-control-request-headers'] ??
        'Authorization, Content-Type, X-Requested-With, X-SignalR-User-Agent',
    );
    res.setHeader('Access-Control-Max-Age', '600');
    res.writeHead(204).end();
    return true;
  }

  /**
   * The hub `path` (a raw request path, see {@link parseRequestTarget}) belongs to, and the rest of it,
   * lower-cased: compared case-insensitively (ASCII: a request path has nothing else), the longest mapped
   * path first (`/chat/admin/negotiate` is `/chat/admin`'s even when `/chat` is mapped too).
   */
  #match(path: string): { endpoint: Endpoint; subpath: string } | undefined {
    const lower = path.toLowerCase();
    let found: { endpoint: Endpoint; subpath: string } | undefined;
    for (const [hubPath, endpoint] of this.#endpoints) {
      if (found && found.endpoint.path.length >= hubPath.length) continue;
      if (lower === hubPath || lower.startsWith(`${hubPath}/`))
        found = { endpoint, subpath: lower.slice(hubPath.length) };
    }
    return found;
  }
}

/** A mapped path: a hub or a connection handler. */
type Endpoint = HubEndpoint | ConnectionHandlerEndpoint;

/** The limits every endpoint's connections share, besides the transports' own settings. */
interface TransportLimits {
  readonly transportMaxBufferSize: number;
  readonly closeOnAuthenticationExpiration: boolean;
}

function normalizePath(path: string): string {
  return `/${path.replace(/^\/+|\/+$/g, '')}`;
}
