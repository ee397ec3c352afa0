/**
 * The floor: the least a Node.js server holding SignalR WebSocket connections can cost. A bare `http` server
 * with a `ws` WebSocketServer that answers negotiate and the handshake like `backplane serve` does and keeps
 * each socket in a set. Usage: node bare-ws-node.js [idle | forward | batched].
 *
 * - `idle` (scenario 5, connections): nothing else.
 * - `forward` (scenario 7, cost): every message a client sends after its handshake (pings aside) is sent,
 *   as it came, to every socket, one WebSocket frame per message: no parsing, no serialization.
 * - `batched` (scenario 7): the same, but the messages of one event-loop turn are joined and each socket
 *   gets them in one frame, flushed with `setImmediate` (what a server that coalesces writes can reach).
 *
 * Forked with an IPC channel (scenario 5) it speaks the same messages as `connection-node` (`listening`,
 * `memory`, `connections`, `stop`); spawned without one it prints `listening on URL` and stops on SIGTERM.
 */
import { createServer } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';
import { memoryReport } from './memory-report.js';

type Request = { type: 'memory' | 'connections' | 'stop' };
type Mode = 'idle' | 'forward' | 'batched';

const mode = (process.argv[2] ?? 'idle') as Mode;
if (!['idle', 'forward', 'batched'].includes(mode)) throw new Error(`unknown mode '${mode}'`);

const RS = 0x1e;
/** `{"type":6}` followed by the record separator: a SignalR ping, which the floor does not forward. */
const isPing = (data: Buffer) => data.length === 11 && data[8] === 0x36 && data[10] === RS;

const sockets = new Set<WebSocket>();
let pending: Buffer[] = [];

function forward(data: Buffer): void {
  for (const socket of sockets) socket.send(data, { binary: false });
}

function flush(): void {
  const joined = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
  pending = [];
  forward(joined);
}

const server = createServer((request, response) => {
  if (request.method === 'POST' && request.url?.startsWith('/chat/negotiate')) {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{"negotiateVersion":1,"connectionId":"c","connectionToken":"t","availableTransports":[]}');
  } else {
    response.writeHead(404).end();
  }
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (socket) => {
  socket.once('message', () => {
    socket.send('{}\x1e');
    sockets.add(socket);
    if (mode === 'idle') return;
    socket.on('message', (data: Buffer) => {
      if (isPing(data)) return;
      if (mode === 'forward') return forward(data);
      if (pending.push(data) === 1) setImmediate(flush);
    });
  });
  socket.on('close', () => sockets.delete(socket));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const address = server.address();
const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

function stop(): never {
  for (const socket of sockets) socket.terminate();
  server.close();
  process.exit(0);
}

const send = (message: object) => process.send?.(message);
process.on('message', async (request: Request) => {
  switch (request.type) {
    case 'memory':
      send(await memoryReport());
      return;
    case 'connections':
      send({ type: 'connections', count: sockets.size });
      return;
    case 'stop':
      stop();
  }
});
if (process.send) send({ type: 'listening', url });
else {
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`listening on ${url}\n`);
}
