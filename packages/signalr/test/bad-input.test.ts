import type * as signalR from '@microsoft/signalr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { signJwt } from '../src/index.js';
import { connectClient, type Node, startMemoryNodes, stopNode, WAIT_MS } from './two-nodes.js';

let nodes: Node[];
let secured: Node[];
let bystander: signalR.HubConnection;
const SECRET = 'jwt-test-secret';

beforeAll(async () => {
  nodes = await startMemoryNodes(1, { maximumReceiveMessageSize: 1_024 });
  secured = await startMemoryNodes(1, { jwtSecret: SECRET });
  bystander = await connectClient(nodes[0]!.url, { transport: 'WebSockets', protocol: 'json' });
});
afterAll(async () => {
  await bystander?.stop();
  await Promise.all([...nodes, ...secured].map(stopNode));
});

/** Opens a raw WebSocket to the hub (skipping negotiate) and collects text frames until it closes. */
async function raw(url: string) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/chat`);
  const frames: string[] = [];
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  ws.on('message', (data: Buffer) => frames.push(data.toString()));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const next = async () => {
    const deadline = Date.now() + WAIT_MS;
    const start = frames.length;
    while (frames.length === start) {
      if (Date.now() > deadline) throw new Error('no frame');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return frames[start]!;
  };
  return { ws, frames, closed, next };
}

async function bystanderStillWorks() {
  expect(await bystander.invoke('Echo', 'alive')).toBe('alive');
}

describe('bad input', () => {
  const handshakes: Array<[string, string, string]> = [
    ['malformed handshake', 'not json\u001e', 'An unexpected error occurred during connection handshake.'],
    ['unknown protocol', '{"protocol":"xml","version":1}\u001e', "The protocol 'xml' is not supported."],
    [
      'unknown version',
      '{"protocol":"json","version":99}\u001e',
      "The server does not support version 99 of the 'json' protocol.",
    ],
    [
      'missing version',
      '{"protocol":"json"}\u001e',
      'An unexpected error occurred during connection handshake.',
    ],
  ];
  for (const [what, request, error] of handshakes) {
    it(`bad input - ${what} gets the handshake error and a close`, async () => {
      const c = await raw(nodes[0]!.url);
      c.ws.send(request);
      const response = JSON.parse((await c.next()).slice(0, -1)) as { error: string };
      expect(response.error.startsWith(error)).toBe(true);
      await c.closed;
      await bystanderStillWorks();
    });
  }

  it('bad input - invalid JSON after the handshake closes that connection with an error', async () => {
    const c = await raw(nodes[0]!.url);
    c.ws.send('{"protocol":"json","version":1}\u001e');
    expect(await c.next()).toBe('{}\u001e');
    c.ws.send('{"type":1,"target":\u001e');
    const close = JSON.parse((await c.next()).slice(0, -1)) as { type: number; error: string };
    expect(close.type).toBe(7);
    expect(close.error).toMatch(/^Connection closed with an error\./);
    await c.closed;
    await bystanderStillWorks();
  });

  it('bad input - an oversize message closes that connection with an error', async () => {
    const c = await raw(nodes[0]!.url);
    c.ws.send('{"protocol":"json","version":1}\u001e');
    await c.next();
    c.ws.send(`{"type":1,"target":"Echo","arguments":["${'x'.repeat(2_000)}"]}\u001e`);
    const close = JSON.parse((await c.next()).slice(0, -1)) as { type: number; error: string };
    expect(close).toMatchObject({ type: 7 });
    expect(close.error).toContain('maximum message size of 1024B');
    await c.closed;
    await bystanderStillWorks();
  });

  it('bad input - a message without handshake is treated as a bad handshake', async () => {
    const c = await raw(nodes[0]!.url);
    c.ws.send('{"type":1,"target":"Echo","arguments":[1]}\u001e');
    expect(JSON.parse((await c.next()).slice(0, -1))).toHaveProperty('error');
    await c.closed;
  });

  it('bad input - an unknown or forged connection token gets 404', async () => {
    const url = nodes[0]!.url;
    expect((await fetch(`${url}/chat?id=forged.token`)).status).toBe(404);
    expect((await fetch(`${url}/chat?id=forged.token`, { method: 'POST', body: 'x' })).status).toBe(404);
    const ws = new WebSocket(`${url.replace('http', 'ws')}/chat?id=forged.token`);
    const status = await new Promise<number>((resolve) =>
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
    );
    expect(status).toBe(404);
    await bystanderStillWorks();
  });

  it('auth - negotiate without, with a bad, or with an expired token is 401; a valid one sets the user', async () => {
    const url = secured[0]!.url;
    expect((await fetch(`${url}/chat/negotiate?negotiateVersion=1`, { method: 'POST' })).status).toBe(401);
    const forged = signJwt({ sub: 'mallory' }, 'wrong-secret');
    expect((await fetch(`${url}/chat/negotiate?access_token=${forged}`, { method: 'POST' })).status).toBe(
      401,
    );
    const expired = signJwt({ sub: 'ada', exp: Math.floor(Date.now() / 1000) - 3_600 }, SECRET);
    expect(
      (
        await fetch(`${url}/chat/negotiate`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${expired}` },
        })
      ).status,
    ).toBe(401);
    const valid = signJwt({ sub: 'ada', exp: Math.floor(Date.now() / 1000) + 3_600 }, SECRET);
    for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling'] as const) {
      const c = await connectClient(url, { transport, protocol: 'json', accessToken: valid });
      expect(await c.invoke('GetUser')).toBe('ada');
      await c.stop();
    }
  });

  it('auth - a WebSocket without negotiate and without a token is 401 when JWT is required', async () => {
    const ws = new WebSocket(`${secured[0]!.url.replace('http', 'ws')}/chat`);
    const status = await new Promise<number>((resolve) =>
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
    );
    expect(status).toBe(401);
  });
});
