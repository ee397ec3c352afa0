import { WebSocket } from 'ws';
import { WAIT_MS } from './two-nodes.js';

export const RS = '\u001e';

/** A hand-driven WebSocket to a hub, for what the official client cannot send. Frames are awaited, not polled. */
export class RawSocket {
  readonly frames: Array<string | Buffer> = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #read = 0;
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
    const response = await socket.next();
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

  /** The next frame as one parsed JSON message (separator removed). */
  async nextJson<T = Record<string, unknown>>(timeoutMs = WAIT_MS): Promise<T> {
    const frame = String(await this.next(timeoutMs));
    if (!frame.endsWith(RS)) throw new Error(`not a record: ${frame}`);
    return JSON.parse(frame.slice(0, -1)) as T;
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
