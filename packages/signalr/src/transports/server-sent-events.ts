import type { ServerResponse } from 'node:http';
import type { TransportSender } from '../hub-connection-context.js';

const decoder = new TextDecoder();

/**
 * Server-Sent Events (server→client only; text): every send is one event, each line of the payload a
 * `data:` line. The client sends with HTTP POSTs.
 */
export class ServerSentEventsSender implements TransportSender {
  // A class rather than closures: a connection costs its fields only (methods live on the prototype).
  readonly kind = 'ServerSentEvents';
  readonly binary = false;
  readonly #res: ServerResponse;

  constructor(res: ServerResponse) {
    this.#res = res;
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

  /** What the response's socket has not sent yet. */
  get bufferedAmount(): number {
    return this.#res.writableLength;
  }

  send(bytes: Uint8Array): void {
    const res = this.#res;
    if (res.writableEnded || res.destroyed) return;
    const lines = decoder.decode(bytes).split('\n');
    res.write(`${lines.map((line) => `data: ${line.replace(/\r$/, '')}`).join('\r\n')}\r\n\r\n`);
  }

  // The endpoint holds the answer to the client's POST while the connection is paused.
  pause(): void {}

  resume(): void {}

  /** Cuts the stream, dropping what its socket has not sent. */
  abort(): void {
    this.#res.destroy();
  }

  close(): void {
    const res = this.#res;
    if (!res.writableEnded && !res.destroyed) res.end();
  }
}
