import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HubLifetimeManager, InvalidArgumentError } from '@backplane/core';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Hub, HubServer } from '../src/index.js';
import { quiet, WAIT_MS } from './two-nodes.js';

class ChatHub extends Hub {
  Where() {
    return 'chat';
  }
}
class AdminHub extends Hub {
  Where() {
    return 'admin';
  }
}

let server: Server;
let hubs: HubServer;
let url: string;
const managers: HubLifetimeManager[] = [];
const clients: signalR.HubConnection[] = [];

async function manager(hub: string) {
  const m = new HubLifetimeManager({
    driver: new MemoryDriver({ bus: new MemoryBus() }),
    nodeId: hub,
    hub,
    logger: quiet,
  });
  await m.start();
  managers.push(m);
  return m;
}

beforeAll(async () => {
  server = createServer();
  hubs = new HubServer({ logger: quiet })
    .mapHub('/chathub', ChatHub, await manager('chat'))
    .mapHub('/chathub/Admin', AdminHub, await manager('admin'))
    .attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await hubs.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await Promise.all(managers.map((m) => m.close()));
});
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
});

async function connect(path: string, transport: 'WebSockets' | 'ServerSentEvents' | 'LongPolling') {
  const c = new signalR.HubConnectionBuilder()
    .withUrl(`${url}${path}`, { transport: signalR.HttpTransportType[transport] })
    .configureLogging(signalR.LogLevel.None)
    .build();
  clients.push(c);
  await c.start();
  return c;
}

describe('hub paths', () => {
  for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling'] as const) {
    it(`hub paths - /chatHub reaches the hub mapped at /chathub, negotiate and transport (${transport})`, async () => {
      const c = await connect('/chatHub', transport);
      expect(await c.invoke('Where')).toBe('chat');
    });
  }

  it('hub paths - negotiate matches case-insensitively, its own segment included', async () => {
    for (const path of ['/CHATHUB/NEGOTIATE', '/ChatHub/Negotiate', '/chathub/negotiate']) {
      const res = await fetch(`${url}${path}?negotiateVersion=1`, { method: 'POST' });
      expect(res.status, path).toBe(200);
      expect(((await res.json()) as { connectionToken?: string }).connectionToken).toBeTruthy();
    }
    expect((await fetch(`${url}/chathubx/negotiate`, { method: 'POST' })).status).toBe(404);
  });

  it('hub paths - the longest mapped path wins, whatever the case', async () => {
    const c = await connect('/ChatHub/ADMIN', 'WebSockets');
    expect(await c.invoke('Where')).toBe('admin');
  });

  it('hub paths - mapping a path that differs only in case is refused; hubContext ignores case', async () => {
    const other = new HubServer({ logger: quiet }).mapHub('/chat', ChatHub, managers[0]!);
    expect(() => other.mapHub('/Chat', ChatHub, managers[0]!)).toThrow(InvalidArgumentError);
    expect(() => other.mapHub('/CHAT/', ChatHub, managers[0]!)).toThrow("A hub is already mapped at '/chat'");
    expect(hubs.hubContext('/CHATHUB')).toBe(hubs.hubContext('/chathub'));
    const c = await connect('/chathub', 'WebSockets');
    const received = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('nothing received')), WAIT_MS);
      c.on('Note', (text: unknown) => {
        clearTimeout(timer);
        resolve(text);
      });
    });
    await hubs.hubContext('/ChatHub').all.send('Note', 'hello');
    expect(await received).toBe('hello');
  });
});
