/**
 * Scenario 7's clients: raw `ws` sockets that only count what they receive, so the client's cost hides
 * nothing of the server's. A SignalR client (JSON protocol) counts the records of each message (0x1E
 * separators; pings not counted); a socket.io client (engine.io 4 over WebSocket, one packet per frame)
 * counts event frames (`42…`). Both keep their connection alive (SignalR: a ping every 10 s; socket.io:
 * answering the server's pings).
 */
import WebSocket from 'ws';
import { Counter } from '../util/wait.js';

export type ClientKind = 'signalr' | 'socket.io';

const RS = 0x1e;
const HANDSHAKE = '{"protocol":"json","version":1}\x1e';
const PING = '{"type":6}\x1e';
const PING_INTERVAL_MS = 10_000;
const OPEN_TIMEOUT_MS = 30_000;
/** Connections opened at once. */
const CONCURRENCY = 50;

/**
 * Records in `data` from `from` on, pings (`{"type":6}`) left out. A record is counted at its separator;
 * the byte at offset 8 of a ping is its type digit.
 */
export function countRecords(data: Buffer, from = 0): number {
  let n = 0;
  for (let sep = data.indexOf(RS, from); sep !== -1; sep = data.indexOf(RS, from)) {
    if (!(sep - from === 10 && data[from + 8] === 0x36)) n++;
    from = sep + 1;
  }
  return n;
}

/** The clients of one contender: every socket counts into the same totals. */
export class LightClients {
  /** Records (deliveries) received by all sockets, awaitable. */
  readonly records = new Counter();
  /** WebSocket frames that carried at least one record. */
  frames = 0;
  readonly #sockets: WebSocket[] = [];
  readonly #pinger: NodeJS.Timeout | undefined;

  constructor(readonly kind: ClientKind) {
    if (kind === 'signalr')
      this.#pinger = setInterval(() => {
        for (const socket of this.#sockets) if (socket.readyState === WebSocket.OPEN) socket.send(PING);
      }, PING_INTERVAL_MS);
  }

  /** Sockets open. */
  get size(): number {
    return this.#sockets.length;
  }

  /** Opens `count` counting clients on the server at `url` (an `http://` base URL). */
  async open(url: string, count: number): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        next++;
        this.#sockets.push(await this.#openOne(url));
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, worker));
  }

  /**
   * Opens one more counting client on `url` and returns what sends one 100-byte broadcast from it: the
   * chat hub's `SendMessage(user, message)` (no invocation id: no completion comes back) or the socket.io
   * peer's `SendMessage` event. The bare `ws` floor forwards the SignalR invocation as it is.
   */
  async sender(url: string, message: string): Promise<() => void> {
    const socket = await this.#openOne(url);
    this.#sockets.push(socket);
    const frame =
      this.kind === 'signalr'
        ? Buffer.from(
            `${JSON.stringify({ type: 1, target: 'SendMessage', arguments: ['bench', message] })}\x1e`,
          )
        : Buffer.from(`42${JSON.stringify(['SendMessage', 'bench', message])}`);
    return () => socket.send(frame, { binary: false });
  }

  close(): void {
    clearInterval(this.#pinger);
    for (const socket of this.#sockets) socket.terminate();
    this.#sockets.length = 0;
  }

  #openOne(url: string): Promise<WebSocket> {
    return this.kind === 'signalr' ? this.#openSignalR(url) : this.#openSocketIo(url);
  }

  async #openSignalR(url: string): Promise<WebSocket> {
    const response = await fetch(`${url}/chat/negotiate?negotiateVersion=1`, { method: 'POST' });
    if (!response.ok) throw new Error(`negotiate: HTTP ${response.status}`);
    const { connectionToken } = (await response.json()) as { connectionToken: string };
    const socket = new WebSocket(
      `${url.replace(/^http/, 'ws')}/chat?id=${encodeURIComponent(connectionToken)}`,
      { perMessageDeflate: false },
    );
    return this.#opened(
      socket,
      (data, ready) => {
        if (!ready) {
          // The handshake answer `{}` + RS; records written right after it may share its frame.
          const end = data.indexOf(RS);
          if (data[0] !== 0x7b || data[1] !== 0x7d || end !== 2)
            throw new Error(`handshake refused: ${data.toString()}`);
          this.#count(data, end + 1);
          return true;
        }
        this.#count(data, 0);
        return true;
      },
      () => socket.send(HANDSHAKE),
    );
  }

  #openSocketIo(url: string): Promise<WebSocket> {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, {
      perMessageDeflate: false,
    });
    return this.#opened(socket, (data, ready) => {
      const type = data[0];
      if (type === 0x34 /* 4: message */ && data[1] === 0x32 /* 2: event */) {
        this.records.add(1);
        this.frames++;
      } else if (type === 0x32 /* 2: ping */) socket.send('3');
      else if (type === 0x30 /* 0: open */)
        socket.send('40'); // connect to the main namespace
      else if (!ready && type === 0x34 && data[1] === 0x30) return true; // 40: connected
      return ready;
    });
  }

  #count(data: Buffer, from: number): void {
    const n = countRecords(data, from);
    if (n === 0) return;
    this.frames++;
    this.records.add(n);
  }

  /**
   * Resolves with `socket` once `onMessage` first says it is ready (handshake done); `onOpen` runs when the
   * WebSocket opens. `onMessage` keeps handling every message after that.
   */
  #opened(
    socket: WebSocket,
    onMessage: (data: Buffer, ready: boolean) => boolean,
    onOpen?: () => void,
  ): Promise<WebSocket> {
    return new Promise<WebSocket>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        socket.terminate();
        reject(new Error(`${this.kind} client: not connected within ${OPEN_TIMEOUT_MS} ms`));
      }, OPEN_TIMEOUT_MS);
      socket.on('error', (error) => {
        if (ready) return;
        clearTimeout(timer);
        reject(error);
      });
      if (onOpen) socket.once('open', onOpen);
      socket.on('message', (data: Buffer) => {
        let nowReady: boolean;
        try {
          nowReady = onMessage(data, ready);
        } catch (error) {
          clearTimeout(timer);
          socket.terminate();
          return reject(error);
        }
        if (nowReady && !ready) {
          ready = true;
          clearTimeout(timer);
          resolve(socket);
        }
      });
    });
  }
}
