import { MessagePackHubProtocol, MessageType } from '@backplane/hub-protocol';
import * as signalR from '@microsoft/signalr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSocket, RS } from './raw-client.js';
import { connectClient, type Node, startMemoryNodes, stopNode } from './two-nodes.js';

/** Short timers, so keep-alive behaviour shows in milliseconds. */
const KEEP_ALIVE_MS = 100;
const CLIENT_TIMEOUT_MS = 400;
const HANDSHAKE_TIMEOUT_MS = 300;
/** How long a "stays connected" check watches: several client timeouts. */
const OUTLIVE_TIMEOUT_MS = CLIENT_TIMEOUT_MS * 3;

let node: Node;
let fast: Node;
beforeAll(async () => {
  [node] = (await startMemoryNodes(1)) as [Node];
  [fast] = (await startMemoryNodes(1, {
    keepAliveInterval: KEEP_ALIVE_MS,
    clientTimeoutInterval: CLIENT_TIMEOUT_MS,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  })) as [Node];
});
afterAll(async () => {
  await Promise.all([node, fast].filter(Boolean).map(stopNode));
});

const negotiate = async (url: string, query: string) =>
  (await (await fetch(`${url}/chat/negotiate${query}`, { method: 'POST' })).json()) as Record<
    string,
    unknown
  >;

describe('negotiate', () => {
  it('negotiate - v1 answers connectionId, a separate connectionToken and the three transports in order', async () => {
    const body = await negotiate(node.url, '?negotiateVersion=1');
    expect(Object.keys(body).sort()).toEqual(
      ['availableTransports', 'connectionId', 'connectionToken', 'negotiateVersion'].sort(),
    );
    expect(body.negotiateVersion).toBe(1);
    expect(body.connectionId).not.toBe(body.connectionToken);
    expect(body.connectionId).toMatch(/\.n1-/);
    expect(body.availableTransports).toEqual([
      { transport: 'WebSockets', transferFormats: ['Text', 'Binary'] },
      { transport: 'ServerSentEvents', transferFormats: ['Text'] },
      { transport: 'LongPolling', transferFormats: ['Text', 'Binary'] },
    ]);
  });

  it('negotiate - v0 (no negotiateVersion) answers only connectionId, which is the token', async () => {
    const body = await negotiate(node.url, '');
    expect(Object.keys(body).sort()).toEqual(['availableTransports', 'connectionId']);
    const ws = await RawSocket.open(node.url, `?id=${encodeURIComponent(body.connectionId as string)}`);
    ws.send(`{"protocol":"json","version":1}${RS}`);
    expect(await ws.next()).toBe(`{}${RS}`);
    ws.close();
  });

  it('negotiate - a future version gets 1; useStatefulReconnect only when the client asks', async () => {
    expect((await negotiate(node.url, '?negotiateVersion=7')).negotiateVersion).toBe(1);
    expect(await negotiate(node.url, '?negotiateVersion=1')).not.toHaveProperty('useStatefulReconnect');
    expect(await negotiate(node.url, '?negotiateVersion=1&useStatefulReconnect=true')).toHaveProperty(
      'useStatefulReconnect',
      true,
    );
  });

  it('negotiate - only POST; other hub sub-paths are 404; other paths are not the hub server’s', async () => {
    expect((await fetch(`${node.url}/chat/negotiate`)).status).toBe(405);
    expect((await fetch(`${node.url}/chat/other`)).status).toBe(404);
    expect((await fetch(`${node.url}/chatroom`)).status).toBe(404);
  });
});

describe('handshake and framing', () => {
  it('handshake - version 2 is accepted; a handshake split over frames and followed by a message in the same frame works', async () => {
    const ws = await RawSocket.open(node.url);
    ws.send('{"protocol":"json",');
    ws.send(`"version":2}${RS}{"type":1,"invocationId":"1","target":"Echo","arguments":["same frame"]}${RS}`);
    expect(await ws.nextRecord()).toBe(`{}${RS}`);
    expect(await ws.nextNonPing()).toEqual({ type: 3, invocationId: '1', result: 'same frame' });
    ws.close();
  });

  it('framing - several JSON messages in one frame and one message over several frames', async () => {
    const ws = await RawSocket.handshaken(node.url);
    ws.send(
      `{"type":1,"invocationId":"a","target":"Echo","arguments":[1]}${RS}{"type":1,"invocationId":"b","target":"Echo","arguments":[2]}${RS}{"type":1,"invocationId":"c",`,
    );
    ws.send(`"target":"Echo","arguments":[3]}${RS}`);
    const results = [await ws.nextNonPing(), await ws.nextNonPing(), await ws.nextNonPing()];
    expect(results).toEqual([
      { type: 3, invocationId: 'a', result: 1 },
      { type: 3, invocationId: 'b', result: 2 },
      { type: 3, invocationId: 'c', result: 3 },
    ]);
    ws.close();
  });

  it('framing - the answers to invocations read in one iteration leave as one WebSocket message, in order', async () => {
    const ws = await RawSocket.handshaken(node.url);
    const before = node.hubs.stats;
    const calls = ['a', 'b', 'c', 'd'].map(
      (id, i) => `{"type":1,"invocationId":"${id}","target":"Echo","arguments":[${i}]}${RS}`,
    );
    ws.send(calls.join(''));
    const frame = String(await ws.next());
    const records = frame
      .split(RS)
      .filter(Boolean)
      .map((r) => JSON.parse(r) as { type: number; invocationId?: string })
      .filter((m) => m.type !== 6);
    expect(records.map((m) => m.invocationId)).toEqual(['a', 'b', 'c', 'd']);
    const after = node.hubs.stats;
    expect(after.recordsSent - before.recordsSent).toBeGreaterThanOrEqual(4);
    expect(after.framesSent - before.framesSent).toBe(1);
    ws.close();
  });

  it('framing - a MessagePack record split over frames is read whole', async () => {
    const protocol = new MessagePackHubProtocol();
    const ws = await RawSocket.open(node.url);
    ws.send(`{"protocol":"messagepack","version":2}${RS}`);
    expect(await ws.next()).toBe(`{}${RS}`);
    const frame = protocol.writeMessage({
      type: MessageType.Invocation,
      invocationId: '9',
      target: 'Echo',
      arguments: [{ deep: ['msgpack', 42] }],
    });
    ws.send(frame.subarray(0, 5));
    ws.send(frame.subarray(5));
    const [reply] = protocol.parseMessages(new Uint8Array((await ws.next()) as Buffer));
    expect(reply).toMatchObject({
      type: MessageType.Completion,
      invocationId: '9',
      result: { deep: ['msgpack', 42] },
    });
    ws.close();
  });
});

describe('keep-alive', () => {
  it('keep-alive - a handshake that never comes is canceled after handshakeTimeout', async () => {
    const ws = await RawSocket.open(fast.url);
    expect(await ws.nextJson(HANDSHAKE_TIMEOUT_MS * 5)).toEqual({ error: 'Handshake was canceled.' });
    await ws.closed;
  });

  it('keep-alive - the server pings a connection it has nothing to send to, then closes it when the client stays silent', async () => {
    const ws = await RawSocket.handshaken(fast.url);
    expect(await ws.nextJson(KEEP_ALIVE_MS * 5)).toEqual({ type: 6 });
    expect(await ws.nextJson(KEEP_ALIVE_MS * 5)).toEqual({ type: 6 });
    expect(await ws.nextNonPing(CLIENT_TIMEOUT_MS * 5)).toEqual({
      type: 7,
      error: 'Connection closed with an error.',
    });
    await ws.closed;
  });

  for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling'] as const) {
    it(`keep-alive - an idle official client stays connected past the client timeout (${transport})`, async () => {
      const client = await connectClient(fast.url, {
        transport,
        protocol: 'json',
        configure: (b) => b.withKeepAliveInterval(KEEP_ALIVE_MS).withServerTimeout(CLIENT_TIMEOUT_MS * 5),
      });
      const closed: Error[] = [];
      client.onclose((error) => closed.push(error ?? new Error('closed')));
      await new Promise((resolve) => setTimeout(resolve, OUTLIVE_TIMEOUT_MS));
      expect(closed).toEqual([]);
      expect(client.state).toBe(signalR.HubConnectionState.Connected);
      expect(await client.invoke('Echo', 'still here')).toBe('still here');
      await client.stop();
    });
  }
});

describe('long polling', () => {
  it('long polling - DELETE ends the connection (202), a held poll gets 204, later requests 404', async () => {
    const body = await negotiate(node.url, '?negotiateVersion=1');
    const url = `${node.url}/chat?id=${encodeURIComponent(body.connectionToken as string)}`;
    expect((await fetch(url)).status).toBe(200);
    await fetch(url, { method: 'POST', body: `{"protocol":"json","version":1}${RS}` });
    expect(await (await fetch(url)).text()).toBe(`{}${RS}`);
    const held = fetch(url);
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(202);
    expect((await held).status).toBe(204);
    expect((await fetch(url, { method: 'POST', body: `{"type":6}${RS}` })).status).toBe(404);
  });

  it('long polling - a newer poll ends the older one with 204', async () => {
    const body = await negotiate(node.url, '?negotiateVersion=1');
    const url = `${node.url}/chat?id=${encodeURIComponent(body.connectionToken as string)}`;
    await fetch(url);
    const older = fetch(url);
    await new Promise((resolve) => setImmediate(resolve));
    const newer = fetch(url);
    expect((await older).status).toBe(204);
    await fetch(url, { method: 'POST', body: `{"protocol":"json","version":1}${RS}` });
    expect(await (await newer).text()).toBe(`{}${RS}`);
    await fetch(url, { method: 'DELETE' });
  });
});
