import { InvalidArgumentError } from '@backplane/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Hub, HubServer } from '../src/index.js';
import { startHubServer, type TestHubServer } from './support/hub-server.js';
import { MATRIX, skipUnsupportedCombinations } from './support/matrix.js';
import { type ProtocolName, quiet, type TransportName, WAIT_MS } from './two-nodes.js';

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

let server: TestHubServer;

beforeAll(async () => {
  server = await startHubServer({}, (hubs, manager) =>
    hubs.mapHub('/chathub', ChatHub, manager('chat')).mapHub('/chathub/Admin', AdminHub, manager('admin')),
  );
});
afterAll(() => server.close());
afterEach(() => server.stopClients());

const connect = (path: string, transport: TransportName, protocol: ProtocolName = 'json') =>
  server.connect(path, transport, { protocol });

describe.each(MATRIX)('hub paths ($transport, $protocol)', ({ transport, protocol }) => {
  it(`hub paths - /chatHub reaches the hub mapped at /chathub, negotiate and transport (${transport}, ${protocol})`, async () => {
    const c = await connect('/chatHub', transport, protocol);
    expect(await c.invoke('Where')).toBe('chat');
  });

  it(`hub paths - the longest mapped path wins, whatever the case (${transport}, ${protocol})`, async () => {
    const c = await connect('/ChatHub/ADMIN', transport, protocol);
    expect(await c.invoke('Where')).toBe('admin');
  });
});

describe('hub paths - skipped', () => skipUnsupportedCombinations('hub paths'));

describe('hub paths', () => {
  it('hub paths - negotiate matches case-insensitively, its own segment included', async () => {
    for (const path of ['/CHATHUB/NEGOTIATE', '/ChatHub/Negotiate', '/chathub/negotiate']) {
      const res = await fetch(`${server.url}${path}?negotiateVersion=1`, { method: 'POST' });
      expect(res.status, path).toBe(200);
      expect(((await res.json()) as { connectionToken?: string }).connectionToken).toBeTruthy();
    }
    expect((await fetch(`${server.url}/chathubx/negotiate`, { method: 'POST' })).status).toBe(404);
  });

  it('hub paths - mapping a path that differs only in case is refused; hubContext ignores case', async () => {
    const other = new HubServer({ logger: quiet }).mapHub('/chat', ChatHub, server.managers[0]!);
    expect(() => other.mapHub('/Chat', ChatHub, server.managers[0]!)).toThrow(InvalidArgumentError);
    expect(() => other.mapHub('/CHAT/', ChatHub, server.managers[0]!)).toThrow(
      "A hub is already mapped at '/chat'",
    );
    expect(server.hubs.hubContext('/CHATHUB')).toBe(server.hubs.hubContext('/chathub'));
    const c = await connect('/chathub', 'WebSockets');
    const received = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('nothing received')), WAIT_MS);
      c.on('Note', (text: unknown) => {
        clearTimeout(timer);
        resolve(text);
      });
    });
    await server.hubs.hubContext('/ChatHub').all.send('Note', 'hello');
    expect(await received).toBe('hello');
  });
});
