import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ProtocolError } from '@backplane/hub-protocol';
import { type WebSocket, WebSocketServer } from 'ws';
import type { EndpointConnections } from './endpoint-connections.js';
import { refuseUpgrade, refuseUpgradeFor, transportNotSupported } from './http-answers.js';
import { TransportRequest } from './http-request.js';
import type { TransportSender } from './hub-connection-context.js';
import type { Admission, TransportAdmission } from './transport-admission.js';
import type { TransportConnection } from './transport-connection.js';
import type { TransportSettings } from './transport-settings.js';
import { WebSocketSender } from './transports/websocket.js';
import {
  createWebSocketListeners,
  listen,
  type WebSocketListeners,
} from './transports/websocket-listeners.js';
import type { Writer } from './transports/write-batcher.js';

/**
 * An endpoint's WebSockets: upgrades that open a connection (with a token from negotiate, or without
 * negotiate), or resume one (stateful reconnect), and the sockets this node holds.
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
    let admission: Admission | undefined;
    if (existing) {
      try {
        this.admission.checkResume(req, url, token!, existing);
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
          ? this.admission.redeem(req, url, token)
          : this.admission.admitAnonymousSocket(req, url);
      } catch (error) {
        return void refuseUpgradeFor(socket, error);
      }
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      this.#sockets.add(ws);
      const sender = new WebSocketSender(ws, this.writer);
      if (existing) {
        // Stateful reconnect: the same connection continues on the new socket.
        sender.connection = existing;
        if (!existing.reattach(sender)) ws.close(1011, 'The connection cannot be resumed.');
      } else if (admission) {
        const request = new TransportRequest(req, url, true);
        sender.connection = this.accept(key ?? `ws:${admission.connectionId}`, admission, sender, request);
        admission = undefined; // the socket's listeners share this scope: do not keep the ticket alive
      }
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
