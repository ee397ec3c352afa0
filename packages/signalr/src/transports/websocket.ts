import type { WebSocket } from 'ws';
import type { TransportSender } from '../hub-connection-context.js';

/**
 * WebSockets: text frames for text protocols (and the handshake), binary frames for MessagePack.
 * `binaryFrames()` says which the connection's protocol needs once the handshake is done.
 *
 * Hub messages written in the same turn of the event loop (a burst from the backplane) go out as ONE
 * WebSocket message holding several records, which both hub protocols allow (JSON records end with 0x1E,
 * MessagePack records are length-prefixed): one frame and one syscall per burst instead of one per message.
 */
export function webSocketSender(socket: WebSocket, binaryFrames: () => boolean): TransportSender {
  let pending: Uint8Array[] = [];
  let pendingBinary = false;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const records = pending;
    pending = [];
    if (socket.readyState !== socket.OPEN) return;
    socket.send(records.length === 1 ? records[0]! : Buffer.concat(records), { binary: pendingBinary });
  };
  return {
    kind: 'WebSockets',
    binary: true,
    send(bytes) {
      if (socket.readyState !== socket.OPEN) return;
      const binary = binaryFrames();
      if (pending.length > 0 && binary !== pendingBinary) flush();
      pendingBinary = binary;
      pending.push(bytes);
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
    },
    close() {
      flush();
      if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(1000);
    },
  };
}
