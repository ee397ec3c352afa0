import type { WebSocket } from 'ws';
import type { TransportConnection } from '../transport-connection.js';
import type { TransportSender } from '../transport-sender.js';
import type { BatchedSender, Writer } from './write-batcher.js';

const TEXT = { binary: false } as const;
const BINARY = { binary: true } as const;

/**
 * WebSockets: text frames for text protocols (and the handshake), binary frames for MessagePack once the
 * connection it serves (`connection`, set when the connection is made or resumed) has agreed on one; a raw
 * connection says for each send.
 *
 * Hub messages written during one event-loop iteration (a burst from the backplane, the answers to many
 * invocations read at once) go out at the end of it as ONE WebSocket message holding all their records,
 * which both hub protocols allow (JSON records end with 0x1E, MessagePack records are length-prefixed):
 * one frame and one syscall per iteration instead of one per message. See {@link WriteBatcher}.
 */
export class WebSocketSender implements TransportSender, BatchedSender {
  // A class rather than closures: an idle connection costs its fields only (methods live on the prototype).
  readonly kind = 'WebSockets';
  readonly binary = true;
  /** The connection this socket carries. */
  connection: TransportConnection | undefined;
  readonly #socket: WebSocket;
  readonly #batcher: Writer;
  /** Records waiting for the end of this iteration; made on first use, then reused. */
  #pending: Uint8Array[] | undefined;
  /** Bytes in `#pending`. */
  #pendingBytes = 0;
  #pendingBinary = false;
  #scheduled = false;

  constructor(socket: WebSocket, batcher: Writer) {
    this.#socket = socket;
    this.#batcher = batcher;
  }

  send(bytes: Uint8Array, frameBinary?: boolean): void {
    const socket = this.#socket;
    if (socket.readyState !== socket.OPEN) return;
    const binary = frameBinary ?? this.connection?.binaryFrames === true;
    this.#pending ??= [];
    const pending = this.#pending;
    if (pending.length > 0 && binary !== this.#pendingBinary) this.flush();
    this.#pendingBinary = binary;
    pending.push(bytes);
    this.#pendingBytes += bytes.byteLength;
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#batcher.schedule(this);
    }
  }

  /** What the socket has not sent yet plus this iteration's records. */
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

  /** Drops this iteration's records and cuts the socket (no close handshake: the client is not reading). */
  abort(): void {
    if (this.#pending) this.#pending.length = 0;
    this.#pendingBytes = 0;
    this.#socket.terminate();
  }

  close(): void {
    this.flush();
    const socket = this.#socket;
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(1000);
  }

  /** Writes the waiting records as one WebSocket message (the batcher calls it at the end of the iteration). */
  flush(): void {
    this.#scheduled = false;
    const records = this.#pending;
    if (!records || records.length === 0) return;
    const count = records.length;
    const data = count === 1 ? records[0]! : Buffer.concat(records, this.#pendingBytes);
    records.length = 0;
    this.#pendingBytes = 0;
    const socket = this.#socket;
    if (socket.readyState !== socket.OPEN) return;
    socket.send(data, this.#pendingBinary ? BINARY : TEXT);
    this.#batcher.sent(count);
  }
}
