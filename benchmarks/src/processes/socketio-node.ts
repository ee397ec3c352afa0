/**
 * The peer: one socket.io 4 server with `@socket.io/redis-adapter`, shaped like `backplane serve`'s chat hub
 * (`SendMessage(user, message)` → everyone gets `ReceiveMessage(user, message)`; `JoinGroup(group)`).
 * Usage: node socketio-node.js <redis url | none> [port]. Prints `listening on http://127.0.0.1:PORT`.
 * With `none`, one node on socket.io's default in-memory adapter (no Redis).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const [redisUrl = 'redis://127.0.0.1:6379', port = '0'] = process.argv.slice(2);
const pub = redisUrl === 'none' ? undefined : new Redis(redisUrl);
const sub = pub?.duplicate();
const http = createServer();
const io = new Server(http, {
  ...(pub && sub && { adapter: createAdapter(pub, sub) }),
  transports: ['websocket'],
});
io.on('connection', (socket) => {
  socket.on('SendMessage', (user: string, message: string) => io.emit('ReceiveMessage', user, message));
  socket.on('JoinGroup', (group: string) => socket.join(group));
});
http.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${(http.address() as AddressInfo).port}\n`);
});
const stop = () => {
  io.close();
  pub?.disconnect();
  sub?.disconnect();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
