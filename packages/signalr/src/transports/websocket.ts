import type { WebSocket } from 'ws';
import type { TransportSender } from '../hub-connection-context.js';

/**
 * WebSockets: text frames for text protocols (and the handshake), binary frames for MessagePack.
 * `binaryFrames()` says which the connection's protocol needs once the handshake is done.
 */
export function webSocketSender(socket: WebSocket, binaryFrames: () => boolean): TransportSender {
  return {
    kind: 'WebSockets',
    binary: true,
    send(bytes) {
      if (socket.readyState !== socket.OPEN) return;
      socket.send(bytes, { binary: binaryFrames() });
    },
    close() {
      if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(1000);
    },
  };
}
