import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { SessionRecord } from '@backplane/core';
import { ProtocolError } from '@backplane/hub-protocol';
import { type WebSocket, WebSocketServer } from 'ws';
import type { RedeemableTicket } from './connection-token.js';
import type { EndpointConnections } from './endpoint-connections.js';
import { refuseUpgrade, refuseUpgradeFor, transportNotSupported } from './http-answers.js';
import { TransportRequest } from './http-request.js';
import type { Admission, TransportAdmission } from './transport-admission.js';
import type { TransportConnection } from './transport-connection.js';
import type { TransportSender } from './transport-sender.js';
import type { TransportSettings } from './transport-settings.js';
import { WebSocketSender } from './transports/websocket.js';
import {
  createWebSocketListeners,
  listen,
  type WebSocketListeners,
} from './transports/websocket-listeners.js';
import type { Writer } from './transports/write-batcher.js';

/**
 * Sessions another node held that this endpoint can adopt (a hub whose lifetime manager keeps sessions):
 * a WebSocket resuming a session this node does not hold takes it over from the session store.
 */
export interface AdoptableSessions<C> {
  /** The record kept under a token's key (`undefined`: none, the socket opens a new connection). */
  find(key: string): Promise<SessionRecord | undefined>;
  /** Makes the connection that takes `record` over on `transport` (the endpoint registers it). */
  adopt(
    key: string,
    record: SessionRecord,
    ticket: RedeemableTicket,
    transport: TransportSender,
    request: TransportRequest,
  ): C;
}

/**
 * An endpoint's WebSockets: upgrades that open a connection (with a token from negotiate, or without
 * negotiate), resume one (stateful reconnect), or adopt a session another node held, and the sockets this
 * node holds.
 */
export class WebSocketUpgrades<C extends TransportConnection> {
  readonly #sockets = new Set<WebSocket>();
  readonly #wss: WebSocketServer;
  /** One set of socket listeners for every socket of this endpoint (no closures per connection). */
  readonly #socketListeners: WebSocketListeners;

  constructor(
    readonly connections: EndpointConnections<C>,
    readonly admission: TransportAdmission,
    readonly settings: TransportSettings,
    readonly writer: Writer,
    /** The largest WebSocket message the socket layer reads, in bytes. */
    maxPayload: number,
    /** Creates and registers a connection under `key` (`ConnectionTokens.keyOf` its token). */
    readonly accept: (
      key: string,
      admission: Admission,
      transport: TransportSender,
      request: TransportRequest,
    ) => C,
    /** Sessions this endpoint can adopt from other nodes (none for raw connections). */
    readonly sessions?: AdoptableSessions<C>,
  ) {
    this.#socketListeners = createWebSocketListeners(settings.log, (ws) => this.#sockets.delete(ws));
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false, // the endpoint tracks its sockets itself
      maxPayload,
    });
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    const id = url.searchParams.get('id');
    // Only an upgrade without any id is a skipNegotiation socket; an empty one is a malformed request.
    if (id === '') return void refuseUpgrade(socket, '400 Bad Request');
    const token = id ?? undefined;
    // Only an authentic token yields the key its connection is filed under.
    const key = token && this.settings.tokens.keyOf(token);
    if (token && !key) return void refuseUpgrade(socket, '404 Not Found');
    if (!this.settings.transports.has('WebSockets'))
      return void refuseUpgrade(socket, '404 Not Found', '', transportNotSupported('WebSockets'));
    const existing = key ? this.connections.byToken.get(key) : undefined;
    if (existing) return void this.#resume(req, socket, head, url, token!, existing);
    if (token && key && this.sessions && this.settings.tokens.read(token)?.statefulReconnect)
      return void this.#adopt(req, socket, head, url, token, key).catch((error: unknown) => {
        this.settings.log.warn('Adopting a session failed', { error });
        socket.destroy();
      });
    this.#open(req, socket, head, url, token, key);
  }

  /** Stateful reconnect on this node: the same connection continues on the new socket. */
  #resume(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, token: string, existing: C): void {
    try {
      this.admission.checkResume(req, url, token, existing);
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
    this.#socket(req, socket, head, (sender, ws) => {
      sender.connection = existing; // before the resend: the sender frames by its connection's protocol
      if (!existing.reattach(sender)) ws.close(1011, 'The connection cannot be resumed.');
      return existing;
    });
  }

  /**
   * A stateful token this node holds nothing for: the client resumes a session whose node died or drained
   * (adopted from the session store), or opens its connection for the first time (no record).
   */
  async #adopt(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, token: string, key: string) {
    const sessions = this.sessions!;
    let record: SessionRecord | undefined;
    try {
      record = await sessions.find(key);
    } catch (error) {
      this.settings.log.warn('Could not read a session record', { error });
      return void refuseUpgrade(socket, '503 Service Unavailable');
    }
    if (socket.destroyed) return;
    if (!record) return void this.#open(req, socket, head, url, token, key);
    // Frames the client never acknowledged were dropped: as on one node, the client starts afresh.
    if (record.overflowed) return refuseUpgrade(socket, '404 Not Found');
    if (this.connections.byToken.has(key)) return void refuseUpgrade(socket, '409 Conflict');
    let ticket: RedeemableTicket;
    try {
      ticket = this.admission.checkAdoption(req, url, token, record.userId);
    } catch (error) {
      return void refuseUpgradeFor(socket, error);
    }
    const adopted = record;
    this.#socket(req, socket, head, (sender) =>
      sessions.adopt(key, adopted, ticket, sender, new TransportRequest(req, url, true)),
    );
  }

  /** Opens a new connection: with a token from negotiate, or without negotiate (no token). */
  #open(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    url: URL,
    token: string | undefined,
    key: string | undefined,
  ): void {
    let admission: Admission | undefined;
    try {
      admission = token
        ? this.admission.redeem(req, url, token)
        : this.admission.admitAnonymousSocket(req, url);
    } catch (error) {
      return void refuseUpgradeFor(socket, error);
    }
    this.#socket(req, socket, head, (sender) => {
      const request = new TransportRequest(req, url, true);
      const connection = this.accept(key ?? `ws:${admission!.connectionId}`, admission!, sender, request);
      admission = undefined; // the socket's listeners share this scope: do not keep the ticket alive
      return connection;
    });
  }

  /** Completes the upgrade and gives the socket the connection `attach` makes or resumes with it. */
  #socket(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    attach: (sender: WebSocketSender, ws: WebSocket) => C,
  ): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      this.#sockets.add(ws);
      const sender = new WebSocketSender(ws, this.writer);
      sender.connection = attach(sender, ws);
      listen(ws, sender, this.#socketListeners);
    });
  }

  /** Waits until every socket closed or `deadline`, then terminates what is left. */
  async closeSockets(deadline: Promise<void>): Promise<void> {
    const socketsClosed = Promise.all(
      [...this.#sockets].map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve()))),
    );
    await Promise.race([socketsClosed, deadline]);
    for (const ws of this.#sockets) ws.terminate();
  }

  /** Stops the socket server (after `closeSockets`). */
  close(): void {
    this.#wss.close();
  }
}
