import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { type RoundRobinBalancer, startRoundRobinBalancer } from '../src/round-robin-balancer.js';

const servers: Server[] = [];
const upgraded: Duplex[] = [];
let balancer: RoundRobinBalancer | undefined;
afterEach(async () => {
  await balancer?.close();
  balancer = undefined;
  for (const socket of upgraded.splice(0)) socket.destroy();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A target that answers its own name, streams on `/stream` and answers upgrades with its name. */
async function target(name: string): Promise<string> {
  const server = createServer((req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(`first from ${name}\n`);
      req.once('data', () => {}); // keep the stream open until the client goes
      return;
    }
    res.end(name);
  });
  server.on('upgrade', (_req, socket: Duplex) => {
    upgraded.push(socket);
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Target: ${name}\r\n\r\n`,
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('round-robin balancer', () => {
  it('round-robin balancer - sends each request to the next target, keep-alive or not', async () => {
    balancer = await startRoundRobinBalancer([await target('a'), await target('b'), await target('c')]);
    const names: string[] = [];
    for (let i = 0; i < 6; i++) names.push(await (await fetch(`${balancer.url}/x`)).text());
    expect(names).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(balancer.hits).toEqual([2, 2, 2]);
  });

  it('round-robin balancer - streams a response as it comes, and forwards upgrades to the next target', async () => {
    balancer = await startRoundRobinBalancer([await target('a'), await target('b')]);
    const url = new URL(balancer.url);
    const first = await new Promise<string>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/stream' }, (res) => {
        res.once('data', (chunk: Buffer) => {
          resolve(chunk.toString());
          req.destroy();
        });
      });
      req.once('error', reject);
      req.end();
    });
    expect(first).toBe('first from a\n');
    const targetName = await new Promise<string | undefined>((resolve, reject) => {
      const req = request({
        host: url.hostname,
        port: url.port,
        path: '/socket',
        headers: { Connection: 'Upgrade', Upgrade: 'websocket' },
      });
      req.once('upgrade', (res, socket) => {
        socket.destroy();
        resolve(res.headers['x-target'] as string | undefined);
      });
      req.once('error', reject);
      req.end();
    });
    expect(targetName).toBe('b');
  });
});
