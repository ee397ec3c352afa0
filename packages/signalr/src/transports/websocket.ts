import type { WebSocket } from 'ws';
import type { HubConnectionContext, TransportSender } from '../hub-connection-context.js';

/**
 * WebSockets: text frames for text protocols (and the handshake), binary frames for MessagePack once the
 * connection it serves (`connection`, set when the connection is made or resumed) has agreed on one.
 *
 * Hub messages written in the same turn of the event loop (a burst from the backplane) go out as ONE
 * WebSocket message holding several records, which both hub protocols allow (JSON records end with 0x1E,
 * MessagePack records are length-prefixed): one frame and one syscall per burst instead of one per message.
 */
export class WebSocketSender implements TransportSender {
  // A class rather than closures: an idle connection costs its fields only (methods live on the prototype).
  readonly kind = 'WebSockets';
  readonly binary = true;
  /** The connection this socket carries. */
  connection: HubConnectionContext | undefined;
  readonly #socket: WebSocket;
  /** Records waiting for the end of this turn; made on first use. */
  #pending: Uint8Array[] | undefined;
  /** Bytes in `#pending`. */
  #pendingBytes = 0;
  #pendingBinary = false;
  #scheduled = false;
  #flushLater: (() => void) | undefined;

  constructor(socket: WebSocket) {
    this.#socket = socket;
  }

  send(bytes: Uint8Array): void {
    const socket = this.#socket;
    if (socket.readyState !== socket.OPEN) return;
    const c = this.connection;
    const binary = c?.open === true && c.protocol.transferFormat === 'binary';
    this.#pending ??= [];
    const pending = this.#pending;
    if (pending.length > 0 && binary !== this.#pendingBinary) this.#flush();
    this.#pendingBinary = binary;
    pending.push(bytes);
    this.#pendingBytes += bytes.byteLength;
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#flushLater ??= () => this.#flush();
      queueMicrotask(this.#flushLater);
    }
  }

  /** What the socket has not sent yet plus this turn's records. */
  get bufferedAmount(): number {
    return this.#socket.bufferedAmount + this.#pendingBytes;
  }

  /** Stops reading the socket (what it had already read may still arrive). */
  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  /** Drops this turn's records and cuts the socket (no close handshake: the client is not reading). */
  abort(): void {
    this.#pending = undefined;
    this.#pendingBytes = 0;
    this.#socket.terminate();
  }

  close(): void {
    this.#flush();
    const socket = this.#socket;
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(1000);
  }

  #flush(): void {
    this.#scheduled = false;
    const records = this.#pending;
    if (!records || records.length === 0) return;
    this.#pending = [];
    this.#pendingBytes = 0;
    const socket = this.#socket;
    if (socket.readyState !== socket.OPEN) return;
    socket.send(records.length === 1 ? records[0]! : Buffer.concat(records), { binary: this.#pendingBinary });
  }
}
