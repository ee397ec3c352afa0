import type * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rawHttp, trapProcessErrors } from './raw-client.js';
import { connectClient, type Node, startMemoryNodes, stopNode } from './two-nodes.js';

let node: Node;
let bystander: signalR.HubConnection;
let trap: ReturnType<typeof trapProcessErrors>;

beforeAll(async () => {
  [node] = (await startMemoryNodes(1)) as [Node];
  bystander = await connectClient(node.url, { transport: 'WebSockets', protocol: 'json' });
});
afterAll(async () => {
  await bystander?.stop();
  if (node) await stopNode(node);
});
beforeEach(() => {
  trap = trapProcessErrors();
});
afterEach(() => trap.dispose());

/** Nothing escaped to the process and an unrelated client on the node still gets answers. */
async function serverUnaffected() {
  expect(trap.errors).toEqual([]);
  expect(await bystander.invoke('Echo', 'alive')).toBe('alive');
}

const get = (target: string) => `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
const upgrade = (target: string) =>
  `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

describe('request target', () => {
  // Each of these made `new URL(target, base)` throw outside any try/catch: the process exited.
  const hostLike = ['//', '/\\', '///', '//[', '//a:b@', '//:99999', '//chat', '//chat/negotiate'];

  it('request target - a target a URL parser reads as a host gets 400; the process and other clients go on', async () => {
    for (const target of hostLike) {
      expect({ target, status: (await rawHttp(node.url, get(target))).status }).toEqual({
        target,
        status: 400,
      });
      const post = `POST ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx`;
      expect({ target, status: (await rawHttp(node.url, post)).status }).toEqual({ target, status: 400 });
    }
    await serverUnaffected();
  });

  it('request target - a WebSocket upgrade to such a target is refused with 400', async () => {
    for (const target of hostLike) {
      expect({ target, status: (await rawHttp(node.url, upgrade(target))).status }).toEqual({
        target,
        status: 400,
      });
    }
    await serverUnaffected();
  });

  it('request target - hub paths are matched on the raw path; query strings with odd bytes are read', async () => {
    expect((await rawHttp(node.url, get('/chat/negotiate'))).status).toBe(405);
    const negotiate = await fetch(`${node.url}/chat/negotiate?negotiateVersion=1`, { method: 'POST' });
    expect(negotiate.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await rawHttp(node.url, get('/chat?id=%zz&%%=1&=&id'))).status).toBe(404);
    expect((await rawHttp(node.url, get('/elsewhere'))).status).toBe(404);
    expect((await rawHttp(node.url, get('/chat/../chat/negotiate'))).status).toBe(404);
    await serverUnaffected();
  });
});

describe('transport requests', () => {
  it('transport requests - an empty id= is a missing id: 400 on GET, POST, DELETE and upgrade, nothing opened', async () => {
    const before = node.hubs.connectionCount();
    const status = async (method: string) =>
      (
        await rawHttp(
          node.url,
          `${method} /chat?id= HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
        )
      ).status;
    expect(await status('GET')).toBe(400);
    expect(await status('POST')).toBe(400);
    expect(await status('DELETE')).toBe(400);
    const sse = `GET /chat?id= HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n`;
    expect((await rawHttp(node.url, sse)).status).toBe(400);
    // Present but empty is not absent: only an upgrade without any id is a skipNegotiation socket.
    for (const target of ['/chat?id=', '/chat?id=&id=', '/chat?x=1&id=']) {
      expect({ target, status: (await rawHttp(node.url, upgrade(target))).status }).toEqual({
        target,
        status: 400,
      });
    }
    expect(node.hubs.connectionCount()).toBe(before);
    await serverUnaffected();
  });
});
