import type { Logger } from '@backplane/core';
import type { WebSocket } from 'ws';
import { asError, recoverFrom } from '../guard.js';
import type { WebSocketSender } from './websocket.js';

/** Where a socket keeps its sender, so one set of listener functions serves every socket of a hub. */
const SENDER = Symbol('backplane.websocket-sender');
type SocketWithSender = WebSocket & { [SENDER]?: WebSocketSender };

/** The three socket events an endpoint listens to. Called with the socket as `this` (EventEmitter's rule). */
export interface WebSocketListeners {
  message(this: WebSocket, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void;
  close(this: WebSocket, code: number): void;
  error(this: WebSocket, error: Error): void;
}

/**
 * The listeners of every socket of one hub, made once. They find their connection through the socket's
 * sender instead of closures per socket: an idle connection costs no function objects (the benchmarks
 * measure its heap). Each is guarded: whatever it throws ends that connection, never the process.
 *
 * @param forget called when a socket closes (the endpoint tracks its open sockets).
 */
export function createWebSocketListeners(log: Logger, forget: (ws: WebSocket) => void): WebSocketListeners {
  const context = (sender: WebSocketSender | undefined) => () => ({
    connectionId: sender?.connection?.connectionId,
  });
  /** A failure while handling this socket's events ends this connection, and only it. */
  const fail = (ws: WebSocket, sender: WebSocketSender | undefined, error: unknown) => {
    const connection = sender?.connection;
    if (!connection || connection.closed || connection.transport !== sender) return void ws.terminate();
    try {
      connection.close(asError(error));
    } catch (e) {
      ws.terminate();
      throw e;
    }
  };
  return {
    message(data, isBinary) {
      const sender = (this as SocketWithSender)[SENDER];
      try {
        const connection = sender?.connection;
        if (!connection || connection.transport !== sender) return;
        connection.receive(
          Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer),
          isBinary,
        );
      } catch (error) {
        recoverFrom(log, 'WebSocket message', error, () => fail(this, sender, error), context(sender));
      }
    },
    // A close handshake (1000 normal, 1001 going away) ends the connection; a drop may be resumed.
    close(code) {
      const sender = (this as SocketWithSender)[SENDER];
      try {
        forget(this);
        const connection = sender?.connection;
        if (!connection || connection.transport !== sender) return; // an older socket of a resumed connection
        if (code === 1000 || code === 1001) connection.close(undefined, { sendClose: false });
        else connection.transportLost();
      } catch (error) {
        recoverFrom(log, 'WebSocket close', error, undefined, context(sender));
      }
    },
    error(error) {
      const sender = (this as SocketWithSender)[SENDER];
      try {
        const connection = sender?.connection;
        log.debug('WebSocket error', { connectionId: connection?.connectionId, error });
        if (connection && connection.transport === sender) connection.transportLost(error);
      } catch (e) {
        recoverFrom(log, 'WebSocket error', e, () => this.terminate(), context(sender));
      }
    },
  };
}

/** Files `sender` on its socket and attaches the hub's listeners. */
export function listen(ws: WebSocket, sender: WebSocketSender, listeners: WebSocketListeners): void {
  (ws as SocketWithSender)[SENDER] = sender;
  ws.on('message', listeners.message);
  ws.on('close', listeners.close);
  ws.on('error', listeners.error);
}
