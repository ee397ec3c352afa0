import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ForwardedAnswer, ForwardedRequest } from './forwarded-http.js';

const EMPTY = new Uint8Array(0);

/**
 * A forwarded request as the owner's endpoint handles it: stand-ins for the request and the response it
 * would have had, had the client sent it to this node. The endpoint reads the request (headers, body,
 * remote address) and answers on the response; `answer` resolves with what it wrote. The stand-ins have
 * what the endpoint and the long-polling sender use, nothing more.
 */
export class ForwardedExchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly answer: Promise<ForwardedAnswer>;

  constructor(request: ForwardedRequest, signal: AbortSignal) {
    const response = new AnswerResponse();
    this.answer = response.answer;
    this.req = standInRequest(request) as unknown as IncomingMessage;
    this.res = response as unknown as ServerResponse;
    // Past its deadline the asker stops waiting: a held poll lets go (its bytes wait for the next one).
    const onAbort = () => response.abandon();
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    void this.answer.finally(() => signal.removeEventListener('abort', onAbort));
  }
}

function standInRequest(request: ForwardedRequest) {
  const headers: Record<string, string> = {};
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const previous = headers[name];
    headers[name] = previous === undefined ? raw[i + 1]! : `${previous}, ${raw[i + 1]!}`;
  }
  const body = request.body;
  return {
    method: request.method,
    headers,
    rawHeaders: raw,
    socket: { remoteAddress: request.remoteAddress, setTimeout() {} },
    async *[Symbol.asyncIterator]() {
      if (body.byteLength > 0) yield Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    },
  };
}

/** Records the status, headers and body the endpoint answers with. */
class AnswerResponse {
  readonly answer: Promise<ForwardedAnswer>;
  #resolve: (answer: ForwardedAnswer) => void = () => {};
  #status = 200;
  #headers: Record<string, string | number> = {};
  #closeListeners: Array<() => void> = [];
  writableEnded = false;
  destroyed = false;

  constructor() {
    this.answer = new Promise((resolve) => (this.#resolve = resolve));
  }

  writeHead(status: number, headers?: Record<string, string | number>): this {
    this.#status = status;
    if (headers) Object.assign(this.#headers, headers);
    return this;
  }

  end(body?: Uint8Array | string): this {
    if (this.writableEnded) return this;
    this.writableEnded = true;
    const bytes = body === undefined ? EMPTY : typeof body === 'string' ? Buffer.from(body) : body;
    this.#resolve({ status: this.#status, headers: this.#headers, body: bytes });
    this.#closeListeners.length = 0;
    return this;
  }

  once(event: string, listener: () => void): this {
    if (event === 'close') this.#closeListeners.push(listener);
    return this;
  }

  /** The asker gave up: the endpoint sees the response close, the answer says so. */
  abandon(): void {
    if (this.writableEnded) return;
    this.destroyed = true;
    for (const listener of this.#closeListeners.splice(0)) listener();
    this.writableEnded = true;
    this.#resolve({ status: 503, headers: { 'Content-Type': 'text/plain' }, body: EMPTY });
  }
}
