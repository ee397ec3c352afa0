import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HubLifetimeManager, HubProtocol, Logger } from '@backplane/core';
import { ownerOfConnection } from '@backplane/core';
import { WebSocketServer } from 'ws';
import type { ConnectionTokens } from './connection-token.js';
import { UnauthorizedError } from './errors.js';
import type { HubClass } from './hub.js';
import { type HubClients, hubClients } from './hub-clients.js';
import { HubDispatcher } from './hub-dispatcher.js';
import { type Claims, verifyJwt } from './jwt.js';
import { ServerConnection, type TransportSender } from './server-connection.js';
import { LongPollingSender } from './transports/long-polling.js';
import { serverSentEventsSender } from './transports/server-sent-events.js';
import { webSocketSender } from './transports/websocket.js';

/** Settings shared by every hub of a server (resolved defaults of `HubServerOptions`). */
export interface EndpointSettings {
  tokens: ConnectionTokens;
  jwtSecret: string | undefined;
  userIdProvider: (claims: Claims) => string | undefined;
  userIdQueryParameter: string | undefined;
  connectionTokenTtl: number;
  keepAliveInterval: number;
  clientTimeoutInterval: number;
  handshakeTimeout: number;
  maximumReceiveMessageSize: number;
  pollTimeout: number;
  disconnectTimeout: number;
  statefulReconnectBufferSize: number;
  detailedErrors: boolean;
  log: Logger;
}

interface Identity {
  readonly userId: string | undefined;
  readonly claims: Claims;
  readonly statefulReconnect?: boolean;
}

/** One mapped hub: negotiate, the three transports, and the connections this node holds. */
export class HubEndpoint {
  readonly clients: HubClients;
  readonly #dispatcher: HubDispatcher;
  readonly #protocols: ReadonlyMap<string, HubProtocol>;
  /** Connections by connection token (WebSockets, SSE and long polling all address them by token). */
  readonly #byToken = new Map<string, ServerConnection>();
  readonly #wss: WebSocketServer;

  constructor(
    readonly path: string,
    hubClass: HubClass,
    readonly manager: HubLifetimeManager,
    protocols: readonly HubProtocol[],
    readonly settings: EndpointSettings,
  ) {
    this.#protocols = new Map(protocols.map((p) => [p.name, p]));
    this.#dispatcher = new HubDispatcher(hubClass, manager, settings.log, settings.detailedErrors);
    this.clients = hubClients(manager);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: Math.max(settings.maximumReceiveMessageSize * 2, 65_536),
    });
  }

  get connectionCount(): number {
    return this.#byToken.size;
  }

  async handleRequest(req: IncomingMessage, res: ServerResponse, subpath: string, url: URL): Promise<void> {
    if (subpath === '/negotiate') {
      if (req.method !== 'POST') return void res.writeHead(405).end();
      return this.#negotiate(req, res, url);
    }
    if (subpath !== '') return void res.writeHead(404).end();
    const token = url.searchParams.get('id');
    if (req.method === 'POST') return this.#post(req, res, token);
    if (req.method === 'DELETE') {
      const connection = token ? this.#byToken.get(token) : undefined;
      if (!connection) return void res.writeHead(404).end('No Connection with that ID');
      connection.close(undefined, false);
      return void res.writeHead(202).end();
    }
    if (req.method !== 'GET') return void res.writeHead(405).end();
    if (!token) return void res.writeHead(400).end('Connection ID required');
    if ((req.headers.accept ?? '').includes('text/event-stream'))
      return this.#serverSentEvents(req, res, token);
    return this.#longPoll(req, res, token);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    const token = url.searchParams.get('id');
    let identity: Identity & { connectionId: string };
    try {
      identity = token
        ? this.#redeem(req, url, token)
        : { ...this.#authenticate(req, url), connectionId: this.manager.createConnectionId() };
    } catch (error) {
      const status = error instanceof UnauthorizedError ? '401 Unauthorized' : '404 Not Found';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const existing = token ? this.#byToken.get(token) : undefined;
    if (existing && !existing.awaitingReconnect) {
      socket.end('HTTP/1.1 409 Conflict\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      let connection: ServerConnection | undefined = existing;
      const sender = webSocketSender(
        ws,
        () => connection?.open === true && connection.protocol.transferFormat === 'binary',
      );
      if (existing) {
        // Stateful reconnect: the same connection continues on the new socket.
        if (!existing.reattach(sender)) ws.close(1011);
      } else {
        connection = this.#accept(token ?? `ws:${identity.connectionId}`, identity, sender);
      }
      ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
        const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        if (connection?.transport === sender) connection.receive(bytes);
      });
      // A close handshake (1000 normal, 1001 going away) ends the connection; a drop may be resumed.
      ws.on('close', (code: number) => {
        if (connection?.transport !== sender) return; // an older socket of a resumed connection
        if (code === 1000 || code === 1001) connection.close(undefined, false);
        else connection.transportLost();
      });
      ws.on('error', (error) => {
        if (connection?.transport === sender) connection.transportLost(error);
      });
    });
  }

  /** Closes every connection this node holds (graceful shutdown: clients may reconnect elsewhere). */
  closeAll(): void {
    for (const connection of [...this.#byToken.values()]) connection.close(undefined, true, true);
    this.#wss.close();
  }

  async #negotiate(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    let identity: Identity;
    try {
      identity = this.#authenticate(req, url);
    } catch (error) {
      return void res.writeHead(401, { 'Content-Type': 'text/plain' }).end((error as Error).message);
    }
    const connectionId = this.manager.createConnectionId();
    const statefulReconnect =
      url.searchParams.get('useStatefulReconnect') === 'true' &&
      this.settings.statefulReconnectBufferSize > 0;
    const connectionToken = this.settings.tokens.issue({
      connectionId,
      userId: identity.userId,
      claims: identity.claims,
      expiresAt: Date.now() + this.settings.connectionTokenTtl,
      statefulReconnect,
    });
    const version = Number(url.searchParams.get('negotiateVersion') ?? 0) >= 1 ? 1 : 0;
    const availableTransports = [
      { transport: 'WebSockets', transferFormats: ['Text', 'Binary'] },
      { transport: 'ServerSentEvents', transferFormats: ['Text'] },
      { transport: 'LongPolling', transferFormats: ['Text', 'Binary'] },
    ];
    const body =
      version === 1
        ? {
            negotiateVersion: 1,
            connectionId,
            connectionToken,
            availableTransports,
            ...(statefulReconnect && { useStatefulReconnect: true }),
          }
        : { connectionId: connectionToken, availableTransports };
    res
      .writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' })
      .end(JSON.stringify(body));
  }

  #serverSentEvents(req: IncomingMessage, res: ServerResponse, token: string): void {
    if (this.#byToken.has(token)) return void res.writeHead(409).end();
    let identity: Identity & { connectionId: string };
    try {
      identity = this.#redeem(req, new URL(req.url ?? '/', 'http://x'), token);
    } catch (error) {
      return void res
        .writeHead(error instanceof UnauthorizedError ? 401 : 404)
        .end('No Connection with that ID');
    }
    const connection = this.#accept(token, identity, serverSentEventsSender(res));
    req.once('close', () => connection.close(undefined, false));
  }

  #longPoll(req: IncomingMessage, res: ServerResponse, token: string): void {
    const existing = this.#byToken.get(token);
    if (existing) {
      if (!(existing.transport instanceof LongPollingSender)) return void res.writeHead(409).end();
      existing.transport.poll(res);
      return;
    }
    let identity: Identity & { connectionId: string };
    try {
      identity = this.#redeem(req, new URL(req.url ?? '/', 'http://x'), token);
    } catch (error) {
      return void res
        .writeHead(error instanceof UnauthorizedError ? 401 : 404)
        .end('No Connection with that ID');
    }
    let connection: ServerConnection | undefined;
    const sender = new LongPollingSender(
      { pollTimeout: this.settings.pollTimeout, disconnectTimeout: this.settings.disconnectTimeout },
      () => connection?.close(undefined, false),
    );
    connection = this.#accept(token, identity, sender);
    // The first poll answers at once: it tells the client the transport is up.
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': 0 }).end();
  }

  async #post(req: IncomingMessage, res: ServerResponse, token: string | null): Promise<void> {
    if (!token) return void res.writeHead(400).end('Connection ID required');
    const connection = this.#byToken.get(token);
    if (!connection || connection.closed) return void res.writeHead(404).end('No Connection with that ID');
    const chunks: Buffer[] = [];
    let size = 0;
    const limit = this.settings.maximumReceiveMessageSize * 2 + 1024;
    for await (const chunk of req) {
      size += (chunk as Buffer).byteLength;
      if (size > limit) {
        connection.close(
          new Error(`The maximum message size of ${this.settings.maximumReceiveMessageSize}B was exceeded.`),
        );
        return void res.writeHead(413).end();
      }
      chunks.push(chunk as Buffer);
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end();
    connection.receive(Buffer.concat(chunks));
  }

  /** Creates and registers a connection for a transport that just arrived. */
  #accept(
    token: string,
    identity: Identity & { connectionId: string },
    transport: TransportSender,
  ): ServerConnection {
    const { settings } = this;
    const connection = new ServerConnection(
      {
        connectionId: identity.connectionId,
        userIdentifier: identity.userId,
        claims: identity.claims,
        transport,
        statefulReconnect: identity.statefulReconnect === true,
      },
      this.#protocols,
      settings,
      {
        handshaken: async (c) => {
          await this.manager.onConnected(c);
          await this.#dispatcher.hub(c).onConnected();
        },
        message: (c, message) => this.#dispatcher.dispatch(c, message),
        closed: (c, error) => {
          if (this.#byToken.get(token) === c) this.#byToken.delete(token);
          this.#dispatcher.connectionClosed(c);
          void this.#disconnected(c, error);
        },
      },
      settings.log,
    );
    this.#byToken.set(token, connection);
    return connection;
  }

  async #disconnected(connection: ServerConnection, error: Error | undefined): Promise<void> {
    try {
      await this.manager.onDisconnected(connection);
      await this.#dispatcher.hub(connection).onDisconnected(error);
    } catch (e) {
      this.settings.log.warn('onDisconnected failed', { connectionId: connection.connectionId, error: e });
    }
  }

  /**
   * The identity a connection token carries. The connection keeps negotiate's id when this node minted
   * it; a token negotiated on another node gets an id of this node (ids name their owner).
   */
  #redeem(req: IncomingMessage, url: URL, token: string): Identity & { connectionId: string } {
    const ticket = this.settings.tokens.read(token);
    if (!ticket || ticket.expiresAt < Date.now()) throw new Error('Unknown connection token.');
    if (this.settings.jwtSecret && bearer(req, url)) this.#authenticate(req, url); // a token that is sent must be valid
    const ours = ownerOfConnection(ticket.connectionId) === this.manager.serverId;
    return {
      userId: ticket.userId,
      claims: ticket.claims,
      statefulReconnect: ticket.statefulReconnect,
      connectionId: ours ? ticket.connectionId : this.manager.createConnectionId(),
    };
  }

  #authenticate(req: IncomingMessage, url: URL): Identity {
    const { jwtSecret, userIdProvider, userIdQueryParameter } = this.settings;
    const token = bearer(req, url);
    if (jwtSecret) {
      if (!token) throw new UnauthorizedError('A bearer token is required.');
      const claims = verifyJwt(token, jwtSecret);
      return { userId: userIdProvider(claims), claims };
    }
    const userId = userIdQueryParameter ? url.searchParams.get(userIdQueryParameter) || undefined : undefined;
    return { userId, claims: {} };
  }
}

function bearer(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim() || undefined;
  return url.searchParams.get('access_token') || undefined;
}
