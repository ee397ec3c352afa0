/**
 * Scenario 5's clients: a forked process holding many idle SignalR WebSocket connections. Each connection
 * negotiates, opens the WebSocket, completes the JSON handshake and then only answers keep-alive with a ping
 * every 10 s (so the server's 30 s client timeout never fires). Raw `ws` sockets, not the official client:
 * 10,000 official clients would measure the client library, and only the server's memory is measured here.
 * Messages: `{ type: 'open', url, count }` → `{ type: 'opened', count, failed }`; `{ type: 'stop' }`.
 */
import WebSocket from 'ws';

const HANDSHAKE = '{"protocol":"json","version":1}\x1e';
const PING = '{"type":6}\x1e';
const CONCURRENCY = 100;
const sockets: WebSocket[] = [];

async function openOne(url: string): Promise<WebSocket> {
  const response = await fetch(`${url}/chat/negotiate?negotiateVersion=1`, { method: 'POST' });
  if (!response.ok) throw new Error(`negotiate: HTTP ${response.status}`);
  const { connectionToken } = (await response.json()) as { connectionToken: string };
  const socket = new WebSocket(
    `${url.replace(/^http/, 'ws')}/chat?id=${encodeURIComponent(connectionToken)}`,
    {
      perMessageDeflate: false,
    },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('handshake timed out')), 30_000);
    socket.once('error', reject);
    socket.once('open', () => socket.send(HANDSHAKE));
    socket.once('message', (data) => {
      clearTimeout(timer);
      if (String(data).startsWith('{}')) resolve();
      else reject(new Error(`handshake refused: ${String(data)}`));
    });
  });
  socket.on('error', () => {});
  return socket;
}

async function open(url: string, count: number): Promise<{ count: number; failed: number; error?: string }> {
  let next = 0;
  let failed = 0;
  let error: string | undefined;
  const worker = async () => {
    while (next < count) {
      next++;
      try {
        sockets.push(await openOne(url));
      } catch (e) {
        failed++;
        error ??= String(e);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { count: sockets.length, failed, ...(error && { error }) };
}

const pinger = setInterval(() => {
  for (const socket of sockets) if (socket.readyState === WebSocket.OPEN) socket.send(PING);
}, 10_000);

process.on('message', async (message: { type: 'open'; url: string; count: number } | { type: 'stop' }) => {
  if (message.type === 'open') {
    process.send?.({ type: 'opened', ...(await open(message.url, message.count)) });
  } else {
    clearInterval(pinger);
    for (const socket of sockets) socket.terminate();
    process.exit(0);
  }
});
process.send?.({ type: 'ready' });
