import type { TransportKind, TransportSender } from '../transport-sender.js';
import type { BatchedSender, Writer } from './write-batcher.js';

export interface LongPollingOptions {
  /** How long a poll waits for data before answering empty, in ms. @default 90_000 */
  pollTimeout: number;
  /** A connection with no poll for this long is closed, in ms. @default 15_000 */
  disconnectTimeout: number;
  /**
   * After a close, a poll still gets 204 when nothing was left for it, so the client learns of the end (raw
   * connections: they have no Close message of their own). @default false
   */
  announceEnd?: boolean;
  /**
   * The client reads a Server-Sent Events stream held by another node, which polls this buffer through
   * the backplane and writes each answer as events (kind `ServerSentEvents`, text only).
   * @default false
   */
  relayedEvents?: boolean;
}

/** What a poll is answered on: an HTTP response, or a poll forwarded from another node. */
export interface PollResponse {
  writeHead(
    status: number,
    headers?: Record<string, string | number>,
  ): { end(body?: Uint8Array | string): unknown };
  once(event: 'close', listener: () => void): unknown;
}

/**
 * Long polling: outgoing bytes are buffered until a poll (GET) takes them; a poll waits up to
 * `pollTimeout`; a newer poll ends the older one with 204; a closed connection first hands over what it
 * still buffers (the Close message), then answers 204. A waiting poll is answered at the end of the
 * event-loop iteration in which records arrived, with all of them (one response, one write).
 */
export class LongPollingSender implements TransportSender, BatchedSender {
  readonly kind: TransportKind;
  readonly binary: boolean;
  #buffer: Uint8Array[] = [];
  /** Bytes in `#buffer`. */
  #bytes = 0;
  #poll: { res: PollResponse; timer: NodeJS.Timeout; maxBytes: number } | undefined;
  #closed = false;
  /** A poll was answered 204 after the close. */
  #endAnnounced = false;
  #idleTimer: NodeJS.Timeout | undefined;
  #scheduled = false;

  constructor(
    readonly options: LongPollingOptions,
    readonly batcher: Writer,
    readonly onIdle: () => void,
  ) {
    this.kind = options.relayedEvents ? 'ServerSentEvents' : 'LongPolling';
    this.binary = !options.relayedEvents;
    this.#armIdle();
  }

  send(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#buffer.push(bytes);
    this.#bytes += bytes.byteLength;
    if (this.#poll && !this.#scheduled) {
      this.#scheduled = true;
      this.batcher.schedule(this);
    }
  }

  /** Answers the waiting poll with everything buffered (the batcher calls it at the end of the iteration). */
  flush(): void {
    this.#scheduled = false;
    if (this.#poll && this.#buffer.length > 0) this.#answer();
  }

  /** What no poll has taken yet. */
  get bufferedAmount(): number {
    return this.#bytes;
  }

  /** Drops what no poll has taken (a Close message sent after this is kept for the next poll). */
  abort(): void {
    this.#buffer = [];
    this.#bytes = 0;
  }

  /** Nothing to do: the endpoint holds the answer to the client's POST while the connection is paused. */
  pause(): void {}

  resume(): void {}

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    if (this.#poll && this.#buffer.length > 0) {
      this.#answer(); // what this iteration buffered, the Close message included
    } else if (this.#poll) {
      clearTimeout(this.#poll.timer);
      this.#poll.res.writeHead(204).end();
      this.#poll = undefined;
      this.#endAnnounced = true;
    }
  }

  /** Closed, with bytes the client has not polled yet (or, with `announceEnd`, the end not told yet). */
  get draining(): boolean {
    return (
      this.#closed && (this.#buffer.length > 0 || (this.options.announceEnd === true && !this.#endAnnounced))
    );
  }

  /**
   * A poll arrived: answer at once with what is buffered, or hold it. `maxBytes` caps an answer (whole
   * records, at least one; the rest waits for the next poll): a poll forwarded through the broker.
   */
  poll(res: PollResponse, maxBytes = Number.POSITIVE_INFINITY): void {
    if (this.#closed) {
      if (this.#buffer.length === 0) {
        this.#endAnnounced = true;
        return void res.writeHead(204).end();
      }
      const body = this.#take(maxBytes);
      res
        .writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.byteLength })
        .end(body);
      return;
    }
    clearTimeout(this.#idleTimer);
    if (this.#poll) {
      clearTimeout(this.#poll.timer);
      this.#poll.res.writeHead(204).end();
    }
    const timer = setTimeout(() => {
      if (this.#poll?.res !== res) return;
      this.#poll = undefined;
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': 0 }).end();
      this.#armIdle();
    }, this.options.pollTimeout);
    this.#poll = { res, timer, maxBytes };
    res.once('close', () => {
      if (this.#poll?.res === res) {
        clearTimeout(timer);
        this.#poll = undefined;
        this.#armIdle();
      }
    });
    if (this.#buffer.length > 0) this.#answer();
  }

  #answer(): void {
    const poll = this.#poll;
    if (!poll) return;
    this.#poll = undefined;
    clearTimeout(poll.timer);
    const body = this.#take(poll.maxBytes);
    poll.res
      .writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.byteLength })
      .end(body);
    this.#armIdle();
  }

  /** Takes what is buffered, up to `maxBytes` in whole records (at least one). */
  #take(maxBytes: number): Buffer {
    const buffer = this.#buffer;
    let records = buffer.length;
    let bytes = this.#bytes;
    if (bytes > maxBytes) {
      bytes = buffer[0]!.byteLength;
      records = 1;
      while (records < buffer.length && bytes + buffer[records]!.byteLength <= maxBytes)
        bytes += buffer[records++]!.byteLength;
    }
    const body = Buffer.concat(records === buffer.length ? buffer : buffer.slice(0, records), bytes);
    buffer.splice(0, records);
    this.#bytes -= bytes;
    this.batcher.sent(records);
    return body;
  }

  #armIdle(): void {
    clearTimeout(this.#idleTimer);
    if (this.#closed) return;
    this.#idleTimer = setTimeout(() => this.onIdle(), this.options.disconnectTimeout);
    this.#idleTimer.unref();
  }
}
