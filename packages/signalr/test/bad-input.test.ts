import type * as signalR from '@microsoft/signalr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionTokens } from '../src/connection-token.js';
import { signJwt } from '../src/index.js';
import { RawSocket, RS, upgradeStatus } from './raw-client.js';
import { connectClient, type Node, startMemoryNodes, stopNode } from './two-nodes.js';

const SECRET = 'jwt-test-secret-of-32-bytes-or-more';
const LIMIT = 1_024;
let plain: Node;
let detailed: Node;
let secured: Node;
let bystander: signalR.HubConnection;

beforeAll(async () => {
  [plain] = (await startMemoryNodes(1, { maximumReceiveMessageSize: LIMIT })) as [Node];
  [detailed] = (await startMemoryNodes(1, {
    maximumReceiveMessageSize: LIMIT,
    enableDetailedErrors: true,
  })) as [Node];
  [secured] = (await startMemoryNodes(1, { jwtSecret: SECRET })) as [Node];
  bystander = await connectClient(plain.url, { transport: 'WebSockets', protocol: 'json' });
});
afterAll(async () => {
  await bystander?.stop();
  await Promise.all([plain, detailed, secured].filter(Boolean).map(stopNode));
});

/** Every bad-input case ends by checking that an unrelated client on the same node still works. */
async function bystanderStillWorks() {
  expect(await bystander.invoke('Echo', 'alive')).toBe('alive');
}

async function negotiate(url: string, query = 'negotiateVersion=1', init: RequestInit = {}) {
  const res = await fetch(`${url}/chat/negotiate?${query}`, { method: 'POST', ...init });
  return {
    status: res.status,
    body: res.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined,
  };
}

describe('bad input - handshake', () => {
  const handshakes: Array<[string, string, string]> = [
    ['malformed handshake', `not json${RS}`, 'An unexpected error occurred during connection handshake.'],
    ['unknown protocol', `{"protocol":"xml","version":1}${RS}`, "The protocol 'xml' is not supported."],
    [
      'unknown version',
      `{"protocol":"json","version":99}${RS}`,
      "The server does not support version 99 of the 'json' protocol.",
    ],
    [
      'missing version',
      `{"protocol":"json"}${RS}`,
      'An unexpected error occurred during connection handshake.',
    ],
    [
      'a hub message instead of a handshake',
      `{"type":1,"target":"Echo","arguments":[1]}${RS}`,
      'An unexpected error occurred during connection handshake.',
    ],
  ];
  for (const [what, request, error] of handshakes) {
    it(`bad input - ${what} gets the handshake error and a close`, async () => {
      const c = await RawSocket.open(plain.url);
      c.send(request);
      const response = await c.nextJson<{ error: string }>();
      expect(response.error.startsWith(error)).toBe(true);
      await c.closed;
      await bystanderStillWorks();
    });
  }

  it('bad input - a handshake larger than the message limit is canceled', async () => {
    const c = await RawSocket.open(plain.url);
    c.send(`{"protocol":"json","version":1,"padding":"${'x'.repeat(LIMIT)}`);
    expect(await c.nextJson()).toEqual({ error: 'Handshake was canceled.' });
    await c.closed;
    await bystanderStillWorks();
  });

  it('bad input - MessagePack over Server-Sent Events is refused with the transfer format error', async () => {
    const { body } = await negotiate(plain.url);
    const id = encodeURIComponent(body!.connectionToken as string);
    const controller = new AbortController();
    const events = await fetch(`${plain.url}/chat?id=${id}`, {
      headers: { Accept: 'text/event-stream' },
      signal: controller.signal,
    });
    expect(events.headers.get('content-type')).toBe('text/event-stream');
    const post = await fetch(`${plain.url}/chat?id=${id}`, {
      method: 'POST',
      body: `{"protocol":"messagepack","version":2}${RS}`,
    });
    expect(post.status).toBe(200);
    const text = await events.text(); // the server ends the stream after the error
    expect(text).toContain(
      `data: {"error":"Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format."}${RS}`,
    );
    await bystanderStillWorks();
  });
});

describe('bad input - messages', () => {
  it('bad input - invalid JSON after the handshake closes that connection with an error', async () => {
    const c = await RawSocket.handshaken(plain.url);
    c.send(`{"type":1,"target":${RS}`);
    expect(await c.nextNonPing()).toEqual({ type: 7, error: 'Connection closed with an error.' });
    await c.closed;
    await bystanderStillWorks();
  });

  it('bad input - with detailed errors the Close message says what was wrong', async () => {
    const c = await RawSocket.handshaken(detailed.url);
    c.send(`{"type":1,"target":${RS}`);
    const close = await c.nextNonPing<{ error: string }>();
    expect(close.error).toMatch(/^Connection closed with an error\. ProtocolError: Error reading JSON/);
    await c.closed;
  });

  it('bad input - an oversize message closes that connection with an error, others unaffected', async () => {
    const c = await RawSocket.handshaken(plain.url);
    const other = await RawSocket.handshaken(plain.url);
    c.send(`{"type":1,"target":"Echo","arguments":["${'x'.repeat(2_000)}"]}${RS}`);
    expect(await c.nextNonPing()).toEqual({ type: 7, error: 'Connection closed with an error.' });
    await c.closed;
    other.send(`{"type":1,"invocationId":"1","target":"Echo","arguments":["fine"]}${RS}`);
    expect(await other.nextNonPing()).toEqual({ type: 3, invocationId: '1', result: 'fine' });
    other.close();
    await bystanderStillWorks();
  });

  it('bad input - the oversize Close names the limit with detailed errors; a message split over frames counts whole', async () => {
    const c = await RawSocket.handshaken(detailed.url);
    c.send(`{"type":1,"target":"Echo","arguments":["${'x'.repeat(600)}`);
    c.send(`${'y'.repeat(600)}"]}${RS}`);
    const close = await c.nextNonPing<{ error: string }>();
    expect(close.error).toContain('The maximum message size of 1024B was exceeded.');
    await c.closed;
  });

  it('bad input - a long-polling POST over the limit is refused and closes that connection', async () => {
    const { body } = await negotiate(plain.url);
    const id = encodeURIComponent(body!.connectionToken as string);
    expect((await fetch(`${plain.url}/chat?id=${id}`)).status).toBe(200); // the first poll opens it
    await fetch(`${plain.url}/chat?id=${id}`, {
      method: 'POST',
      body: `{"protocol":"json","version":1}${RS}`,
    });
    expect(await (await fetch(`${plain.url}/chat?id=${id}`)).text()).toBe(`{}${RS}`);
    const big = await fetch(`${plain.url}/chat?id=${id}`, { method: 'POST', body: 'x'.repeat(LIMIT * 10) });
    expect(big.status).toBe(413);
    const last = await fetch(`${plain.url}/chat?id=${id}`);
    expect(await last.text()).toBe(`{"type":7,"error":"Connection closed with an error."}${RS}`);
    expect((await fetch(`${plain.url}/chat?id=${id}`)).status).toBe(404);
    await bystanderStillWorks();
  });

  it('bad input - invalid MessagePack closes that connection with an error', async () => {
    const c = await RawSocket.open(plain.url);
    c.send(`{"protocol":"messagepack","version":1}${RS}`);
    expect(await c.next()).toBe(`{}${RS}`);
    c.send(new Uint8Array([3, 0xc1, 0xc1, 0xc1])); // a record of 3 bytes that are no MessagePack
    const close = (await c.next()) as Buffer;
    expect(Buffer.isBuffer(close)).toBe(true);
    expect(close.toString('latin1')).toContain('Connection closed with an error.');
    await c.closed;
    await bystanderStillWorks();
  });

  it('bad input - unknown message types are ignored, the connection goes on', async () => {
    const c = await RawSocket.handshaken(plain.url);
    c.send(
      `{"type":99,"whatever":true}${RS}{"type":1,"invocationId":"7","target":"Echo","arguments":[7]}${RS}`,
    );
    expect(await c.nextNonPing()).toEqual({ type: 3, invocationId: '7', result: 7 });
    c.close();
  });
});

describe('bad input - connection tokens', () => {
  it('bad input - an unknown or forged connection token gets 404 on every transport', async () => {
    const url = plain.url;
    expect((await fetch(`${url}/chat?id=forged.token`)).status).toBe(404);
    expect(
      (await fetch(`${url}/chat?id=forged.token`, { headers: { Accept: 'text/event-stream' } })).status,
    ).toBe(404);
    expect((await fetch(`${url}/chat?id=forged.token`, { method: 'POST', body: 'x' })).status).toBe(404);
    expect((await fetch(`${url}/chat?id=forged.token`, { method: 'DELETE' })).status).toBe(404);
    expect(await upgradeStatus(`${url}/chat?id=forged.token`)).toBe(404);
    expect((await fetch(`${url}/chat`)).status).toBe(400);
    await bystanderStillWorks();
  });

  it('bad input - an expired connection token, or one negotiated for another hub, gets 404', async () => {
    const tokens = new ConnectionTokens('shared-test-secret');
    const ticket = {
      hub: '/chat',
      connectionId: plain.manager.createConnectionId(),
      userId: undefined,
      claims: {},
      expiresAt: Date.now() + 60_000,
      statefulReconnect: false,
    };
    const expired = tokens.issue({ ...ticket, expiresAt: Date.now() - 1 });
    const otherHub = tokens.issue({ ...ticket, hub: '/admin' });
    expect(await upgradeStatus(`${plain.url}/chat?id=${encodeURIComponent(expired)}`)).toBe(404);
    expect(await upgradeStatus(`${plain.url}/chat?id=${encodeURIComponent(otherHub)}`)).toBe(404);
    const valid = tokens.issue(ticket);
    const ws = await RawSocket.open(plain.url, `?id=${encodeURIComponent(valid)}`);
    ws.close();
  });

  it('bad input - a second WebSocket on an open connection is 409; a token whose connection ended is 404', async () => {
    const { body } = await negotiate(plain.url);
    const query = `?id=${encodeURIComponent(body!.connectionToken as string)}`;
    const first = await RawSocket.open(plain.url, query);
    first.send(`{"protocol":"json","version":1}${RS}`);
    expect(await first.next()).toBe(`{}${RS}`);
    expect(await upgradeStatus(`${plain.url}/chat${query}`)).toBe(409);
    first.close();
    await first.closed;
    expect(await upgradeStatus(`${plain.url}/chat${query}`)).toBe(404);
  });
});

describe('bad input - auth', () => {
  it('auth - negotiate without, with a forged, an expired or a not-yet-valid token is 401', async () => {
    const url = secured.url;
    expect((await negotiate(url)).status).toBe(401);
    const forged = signJwt({ sub: 'mallory' }, 'wrong-secret');
    expect((await negotiate(url, `access_token=${forged}`)).status).toBe(401);
    const now = Math.floor(Date.now() / 1000);
    const expired = signJwt({ sub: 'ada', exp: now - 3_600 }, SECRET);
    expect((await negotiate(url, '', { headers: { Authorization: `Bearer ${expired}` } })).status).toBe(401);
    const early = signJwt({ sub: 'ada', nbf: now + 3_600 }, SECRET);
    expect((await negotiate(url, '', { headers: { Authorization: `Bearer ${early}` } })).status).toBe(401);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"ada"}').toString('base64url')}.`;
    expect((await negotiate(url, `access_token=${none}`)).status).toBe(401);
    await bystanderStillWorks();
  });

  it('auth - a valid token sets the user on every transport', async () => {
    const valid = signJwt({ sub: 'ada', exp: Math.floor(Date.now() / 1000) + 3_600 }, SECRET);
    for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling'] as const) {
      const c = await connectClient(secured.url, { transport, protocol: 'json', accessToken: valid });
      expect(await c.invoke('GetUser')).toBe('ada');
      await c.stop();
    }
  });

  it('auth - a WebSocket without negotiate and without a token is 401 when JWT is required', async () => {
    expect(await upgradeStatus(`${secured.url}/chat`)).toBe(401);
  });

  it("auth - a transport request with another user's token than negotiate saw is 401", async () => {
    const ada = signJwt({ sub: 'ada' }, SECRET);
    const eve = signJwt({ sub: 'eve' }, SECRET);
    const { body } = await negotiate(secured.url, `negotiateVersion=1&access_token=${ada}`);
    const id = encodeURIComponent(body!.connectionToken as string);
    expect(await upgradeStatus(`${secured.url}/chat?id=${id}&access_token=${eve}`)).toBe(401);
    const ok = await RawSocket.open(secured.url, `?id=${id}&access_token=${ada}`);
    ok.close();
  });
});
