/**
 * Scenario 5's floor: the least a Node.js server holding SignalR WebSocket connections can cost. A bare
 * `http` server with a `ws` WebSocketServer that answers negotiate and the handshake like `backplane serve`
 * does and keeps each socket in a set, nothing else. Forked with `--expose-gc` and an IPC channel; speaks the
 * same messages as `connection-node` (`listening`, `memory`, `connections`, `stop`).
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { memoryReport } from './memory-report.js';

type Request = { type: 'memory' | 'connections' | 'stop' };

const sockets = new Set<import('ws').WebSocket>();
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
  sockets.add(socket);
  socket.once('message', () => socket.send('{}\x1e'));
  socket.on('close', () => sockets.delete(socket));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const address = server.address();
const port = typeof address === 'object' && address ? address.port : 0;

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
      for (const socket of sockets) socket.terminate();
      server.close();
      process.exit(0);
  }
});
send({ type: 'listening', url: `http://127.0.0.1:${port}` });
