import type { ServerResponse } from 'node:http';
import type { TransportSender } from '../transport-sender.js';
import type { BatchedSender, Writer } from './write-batcher.js';

const decoder = new TextDecoder();
const DATA = Buffer.from('data: ');
const END_OF_EVENT = Buffer.from('\r\n\r\n');
const LF = 0x0a;
const CR = 0x0d;

/**
 * Server-Sent Events (server→client only; text): the records of one event-loop iteration leave as one
 * event (one write), each line of it a `data:` line. The client sends with HTTP POSTs.
 */
export class ServerSentEventsSender implements TransportSender, BatchedSender {
  // A class rather than closures: a connection costs its fields only (methods live on the prototype).
  readonly kind = 'ServerSentEvents';
  readonly binary = false;
  readonly #res: ServerResponse;
  readonly #batcher: Writer;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #scheduled = false;

  constructor(res: ServerResponse, batcher: Writer) {
    this.#res = res;
    this.#batcher = batcher;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache,no-store',
      Pragma: 'no-cache',
      'Content-Encoding': 'identity',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write(':\r\n');
    res.flushHeaders();
  }

  /** What the response's socket has not sent yet plus this iteration's records. */
  get bufferedAmount(): number {
    return this.#res.writableLength + this.#pendingBytes;
  }

  send(bytes: Uint8Array): void {
    const res = this.#res;
    if (res.writableEnded || res.destroyed) return;
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.byteLength;
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#batcher.schedule(this);
    }
  }

  /** Writes the waiting records as one event. */
  flush(): void {
    this.#scheduled = false;
    const records = this.#pending;
    if (records.length === 0) return;
    const count = records.length;
    const body = count === 1 ? records[0]! : Buffer.concat(records, this.#pendingBytes);
    records.length = 0;
    this.#pendingBytes = 0;
    const res = this.#res;
    if (res.writableEnded || res.destroyed) return;
    if (body.indexOf(LF) === -1 && body.indexOf(CR) === -1) {
      // The usual case (JSON records hold no raw line breaks): one data line, no re-encoding.
      res.write(Buffer.concat([DATA, body, END_OF_EVENT], DATA.byteLength + body.byteLength + 4));
    } else {
      // Each line becomes a data line (CR, LF and CRLF all end a line in an event stream).
      const lines = decoder.decode(body).split(/\r\n|\r|\n/);
      res.write(`${lines.map((line) => `data: ${line}`).join('\r\n')}\r\n\r\n`);
    }
    this.#batcher.sent(count);
  }

  // The endpoint holds the answer to the client's POST while the connection is paused.
  pause(): void {}

  resume(): void {}

  /** Cuts the stream, dropping what its socket has not sent. */
  abort(): void {
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    this.#res.destroy();
  }

  close(): void {
    this.flush();
    const res = this.#res;
    if (!res.writableEnded && !res.destroyed) res.end();
  }
}
