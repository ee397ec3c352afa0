import { createServer, request, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { type RoundRobinBalancer, startRoundRobinBalancer } from '../src/round-robin-balancer.js';

const servers: Array<Server | TcpServer> = [];
const upgraded: Duplex[] = [];
let balancer: RoundRobinBalancer | undefined;
afterEach(async () => {
  await balancer?.close();
  balancer = undefined;
  for (const socket of upgraded.splice(0)) socket.destroy();
  for (const s of servers.splice(0)) {
    if ('closeAllConnections' in s) s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A target that answers its own name (and the request body), streams on `/stream` and answers upgrades with its name. */
async function target(name: string): Promise<string> {
  const server = createServer((req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(`first from ${name}\n`);
      req.once('data', () => {}); // keep the stream open until the client goes
      return;
    }
    // Its name, and the body it got after a colon when there is one.
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk;
    });
    req.once('end', () => res.end(body ? `${name}:${body}` : name));
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

/** A port nothing listens on: connecting to it is refused. */
async function refusing(): Promise<string> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

/** A target that accepts each connection and resets it at once, before any answer. */
async function resetting(): Promise<string> {
  const server = createTcpServer((socket) => socket.resetAndDestroy());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The `X-Target` of the answer to an upgrade through `url`. */
function upgrade(url: string): Promise<string | undefined> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({
      host: hostname,
      port,
      path: '/socket',
      headers: { Connection: 'Upgrade', Upgrade: 'websocket' },
    });
    req.once('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.headers['x-target'] as string | undefined);
    });
    req.once('response', (res) => resolve(`status ${res.statusCode}`));
    req.once('error', reject);
    req.end();
  });
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

  for (const [kind, down] of [
    ['refuses', refusing],
    ['resets', resetting],
  ] as const) {
    it(`round-robin balancer - a target that ${kind} connections is skipped: every request and upgrade still succeeds`, async () => {
      balancer = await startRoundRobinBalancer([await target('a'), await down(), await target('b')]);
      const names: string[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${balancer.url}/x`, { method: 'POST', body: `body ${i}` });
        names.push(await res.text());
      }
      // The dead target's turns go to the one after it; the body is sent again with the retry.
      expect(names).toEqual(['a:body 0', 'b:body 1', 'b:body 2', 'a:body 3', 'b:body 4', 'b:body 5']);
      const upgrades: Array<string | undefined> = [];
      for (let i = 0; i < 3; i++) upgrades.push(await upgrade(balancer.url));
      expect(upgrades).toEqual(['a', 'b', 'b']);
      // A request the dead target refused or reset is not counted for it.
      expect(balancer.hits).toEqual([3, 0, 6]);
    });
  }

  it('round-robin balancer - answers 502 to a request and to an upgrade only when every target refuses', async () => {
    balancer = await startRoundRobinBalancer([await refusing(), await resetting()]);
    expect((await fetch(`${balancer.url}/x`)).status).toBe(502);
    expect(await upgrade(balancer.url)).toBe('status 502');
    expect(balancer.hits).toEqual([0, 0]);
  });
});
