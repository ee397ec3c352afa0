import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  createConsoleLogger,
  defaultProtocols,
  type HubLifetimeManager,
  type HubProtocol,
  type Logger,
} from '@backplane/core';
import { ConnectionTokens } from './connection-token.js';
import type { HubClass } from './hub.js';
import type { HubClients } from './hub-clients.js';
import { type EndpointSettings, HubEndpoint } from './hub-endpoint.js';
import type { Claims } from './jwt.js';

export interface HubServerOptions {
  /**
   * Secret shared by every node, signing connection tokens, so a negotiate on one node and the WebSocket
   * on another both work. Required in production; without it a random per-process secret is used (then
   * negotiate and transport must reach the same node).
   */
  tokenSecret?: string;
  /** HS256 secret: when set, negotiate and connections require `Authorization: Bearer` or `access_token`. */
  jwtSecret?: string;
  /** Turns verified JWT claims into the user id. @default claims.sub */
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
  /** Put exception details in error completions sent to clients. @default false */
  enableDetailedErrors?: boolean;
  /** @default [JSON, MessagePack] */
  protocols?: readonly HubProtocol[];
  /**
   * Origins allowed to call negotiate and the HTTP transports from a browser page on another origin
   * (`true`: any origin, echoed with credentials). @default none (same origin only)
   */
  corsOrigins?: readonly string[] | true;
  /** @default a console logger tagged with the first hub's node id */
  logger?: Logger;
}

/**
 * A SignalR-protocol server: map hub classes to paths, attach to an `http.Server` (plain Node, Express,
 * Fastify's `server`), and the official `@microsoft/signalr` client connects unchanged.
 */
export class HubServer {
  readonly #options: HubServerOptions;
  readonly #endpoints = new Map<string, HubEndpoint>();
  readonly #tokens: ConnectionTokens;

  constructor(options: HubServerOptions = {}) {
    this.#options = options;
    this.#tokens = new ConnectionTokens(options.tokenSecret ?? crypto.randomUUID());
  }

  /** Serves `hubClass` at `path` (e.g. `/chat`), its clients reached through `manager`. */
  mapHub(path: string, hubClass: HubClass, manager: HubLifetimeManager): this {
    const normalized = `/${path.replace(/^\/+|\/+$/g, '')}`;
    const o = this.#options;
    const settings: EndpointSettings = {
      tokens: this.#tokens,
      jwtSecret: o.jwtSecret,
      userIdProvider:
        o.userIdProvider ?? ((claims) => (typeof claims.sub === 'string' ? claims.sub : undefined)),
      userIdQueryParameter: o.userIdQueryParameter,
      connectionTokenTtl: o.connectionTokenTtl ?? 300_000,
      keepAliveInterval: o.keepAliveInterval ?? 15_000,
      clientTimeoutInterval: o.clientTimeoutInterval ?? 30_000,
      handshakeTimeout: o.handshakeTimeout ?? 15_000,
      maximumReceiveMessageSize: o.maximumReceiveMessageSize ?? 32_768,
      pollTimeout: o.pollTimeout ?? 90_000,
      disconnectTimeout: o.disconnectTimeout ?? 15_000,
      statefulReconnectBufferSize: o.statefulReconnectBufferSize ?? 100_000,
      detailedErrors: o.enableDetailedErrors ?? false,
      log: o.logger ?? createConsoleLogger(manager.nodeId),
    };
    this.#endpoints.set(
      normalized,
      new HubEndpoint(normalized, hubClass, manager, o.protocols ?? defaultProtocols(), settings),
    );
    return this;
  }

  /** Every way to reach a hub's clients, for HTTP handlers and background jobs. */
  hubContext(path: string): HubClients {
    const endpoint = this.#endpoints.get(`/${path.replace(/^\/+|\/+$/g, '')}`);
    if (!endpoint) throw new Error(`No hub is mapped at '${path}'.`);
    return endpoint.clients;
  }

  /** Connections this node holds, per hub path. */
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
      if (previous.length === 0) res.writeHead(404).end();
      for (const listener of previous) listener.call(server, req, res);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!this.handleUpgrade(req, socket, head) && server.listenerCount('upgrade') === 1) socket.destroy();
    });
    return this;
  }

  /** Handles a request if it targets a mapped hub; returns whether it did. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    const match = this.#match(req);
    if (!match) return false;
    if (this.#cors(req, res)) return true;
    match.endpoint.handleRequest(req, res, match.subpath, match.url).catch((error: unknown) => {
      this.#options.logger?.error('Request failed', { url: req.url, error });
      if (!res.headersSent) res.writeHead(500).end();
    });
    return true;
  }

  /** Handles a WebSocket upgrade if it targets a mapped hub; returns whether it did. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const match = this.#match(req);
    if (match?.subpath !== '') return false;
    match.endpoint.handleUpgrade(req, socket, head, match.url);
    return true;
  }

  /** Closes every connection (clients are told they may reconnect). Managers stay the app's to close. */
  async close(): Promise<void> {
    for (const endpoint of this.#endpoints.values()) endpoint.closeAll();
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

  #match(req: IncomingMessage): { endpoint: HubEndpoint; subpath: string; url: URL } | undefined {
    const url = new URL(req.url ?? '/', 'http://localhost');
    for (const [path, endpoint] of this.#endpoints) {
      if (url.pathname === path || url.pathname.startsWith(`${path}/`)) {
        return { endpoint, subpath: url.pathname.slice(path.length), url };
      }
    }
    return undefined;
  }
}
