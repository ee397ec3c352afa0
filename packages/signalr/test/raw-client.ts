import { WebSocket } from 'ws';
import { WAIT_MS } from './two-nodes.js';

export const RS = '\u001e';

/** A hand-driven WebSocket to a hub, for what the official client cannot send. Frames are awaited, not polled. */
export class RawSocket {
  readonly frames: Array<string | Buffer> = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #read = 0;
  /** Records of a text frame not read yet (the server may put several in one frame). */
  #records: string[] = [];
  #waiter: (() => void) | undefined;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) =>
      ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
    );
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.frames.push(isBinary ? data : data.toString());
      this.#waiter?.();
    });
  }

  /** Opens `ws://…/chat[?query]`. Frames sent right after the upgrade (a resume's Sequence) are kept. */
  static async open(baseUrl: string, query = '', path = '/chat'): Promise<RawSocket> {
    const ws = new WebSocket(`${baseUrl.replace('http', 'ws')}${path}${query}`);
    const socket = new RawSocket(ws);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return socket;
  }

  /** Opens a socket that completes the JSON handshake. */
  static async handshaken(baseUrl: string, query = ''): Promise<RawSocket> {
    const socket = await RawSocket.open(baseUrl, query);
    socket.send(`{"protocol":"json","version":1}${RS}`);
    const response = await socket.nextRecord();
    if (response !== `{}${RS}`) throw new Error(`handshake failed: ${String(response)}`);
    return socket;
  }

  send(data: string | Uint8Array): void {
    this.ws.send(data);
  }

  /** The next frame not read yet. */
  async next(timeoutMs = WAIT_MS): Promise<string | Buffer> {
    if (this.#read < this.frames.length) return this.frames[this.#read++]!;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiter = () => {
        clearTimeout(timer);
        this.#waiter = undefined;
        resolve();
      };
    });
    return this.frames[this.#read++]!;
  }

  /**
   * The next JSON record, separator included. A text frame may hold several records (the server writes the
   * records of one event-loop iteration as one frame); they are read one by one.
   */
  async nextRecord(timeoutMs = WAIT_MS): Promise<string> {
    if (this.#records.length === 0) {
      const frame = String(await this.next(timeoutMs));
      if (!frame.endsWith(RS)) throw new Error(`not a record: ${frame}`);
      this.#records = frame
        .slice(0, -1)
        .split(RS)
        .map((record) => `${record}${RS}`);
    }
    return this.#records.shift()!;
  }

  /** The next JSON record, parsed (separator removed). */
  async nextJson<T = Record<string, unknown>>(timeoutMs = WAIT_MS): Promise<T> {
    const record = await this.nextRecord(timeoutMs);
    return JSON.parse(record.slice(0, -1)) as T;
  }

  /** Skips pings until a message of another type arrives. */
  async nextNonPing<T = Record<string, unknown>>(timeoutMs = WAIT_MS): Promise<T> {
    for (;;) {
      const message = await this.nextJson<T & { type: number }>(timeoutMs);
      if (message.type !== 6) return message;
    }
  }

  close(): void {
    this.ws.close();
  }
}

/** The HTTP status a WebSocket upgrade is refused with. */
export async function upgradeStatus(url: string): Promise<number> {
  const ws = new WebSocket(url.replace('http', 'ws'));
  return new Promise<number>((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => {
      ws.close();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('error', () => {});
  });
}

/** An HTTP exchange written byte for byte, for what fetch and ws refuse to send. */
export interface RawExchange {
  /** The status code of the response, 0 when the server closed without answering. */
  status: number;
  /** Everything the server sent. */
  response: string;
}

/**
 * Writes `request` (a whole HTTP/1.1 request, head and body) on a new TCP connection and resolves with the
 * response once it is complete (by Content-Length, or the end of the head for 1xx, 204 and 304) or the
 * server closed the connection.
 */
export async function rawHttp(baseUrl: string, request: string | Uint8Array, timeoutMs = WAIT_MS) {
  const { connect } = await import('node:net');
  const { hostname, port } = new URL(baseUrl);
  return new Promise<RawExchange>((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      const response = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1] ?? 0);
      socket.destroy();
      resolve({ status, response });
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (responseComplete(Buffer.concat(chunks))) done();
    });
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', () => {}); // a reset is answered by 'close'
    socket.write(request);
  });
}

/** A whole response: its head, then as many body bytes as Content-Length says (none for 1xx, 204, 304). */
function responseComplete(bytes: Buffer): boolean {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = bytes.subarray(0, end).toString('latin1');
  if (/^HTTP\/1\.[01] (1\d\d|204|304)/.test(head)) return true;
  const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
  return length !== undefined && bytes.byteLength - end - 4 >= Number(length);
}

/** Collects errors that escape to the process while it is installed (they would kill a real server). */
export function trapProcessErrors(): { readonly errors: unknown[]; dispose(): void } {
  const errors: unknown[] = [];
  const onError = (error: unknown) => errors.push(error);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return {
    errors,
    dispose() {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}

/** One line a {@link CapturingLogger} received, as the sink would write it. */
export interface CapturedLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  /** The fields as JSON (what a JSON log sink would write). */
  fields: string;
}

/** A `Logger` keeping every line, for assertions on what the server logs. */
export class CapturingLogger {
  readonly lines: CapturedLine[] = [];
  readonly debug = (message: string, fields?: Record<string, unknown>) => this.#add('debug', message, fields);
  readonly info = (message: string, fields?: Record<string, unknown>) => this.#add('info', message, fields);
  readonly warn = (message: string, fields?: Record<string, unknown>) => this.#add('warn', message, fields);
  readonly error = (message: string, fields?: Record<string, unknown>) => this.#add('error', message, fields);

  /** Characters written at `warn` and above (message and fields). */
  get loudSize(): number {
    return this.lines
      .filter((l) => l.level === 'warn' || l.level === 'error')
      .reduce((size, l) => size + l.message.length + l.fields.length, 0);
  }

  #add(level: CapturedLine['level'], message: string, fields?: Record<string, unknown>) {
    const json = JSON.stringify(fields ?? {}, (_k, v: unknown) =>
      v instanceof Error
        ? { name: v.name, message: v.message, code: (v as { code?: unknown }).code }
        : typeof v === 'bigint'
          ? v.toString()
          : v,
    );
    this.lines.push({ level, message, fields: json });
  }
}
