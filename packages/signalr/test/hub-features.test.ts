import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HubLifetimeManager } from '@backplane/core';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { waitFor } from '@backplane/testkit';
import * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { HubServer } from '../src/index.js';
import { RawSocket, RS, upgradeStatus } from './raw-client.js';
import {
  connectClient,
  gate,
  type Node,
  quiet,
  SETTLE_MS,
  seen,
  startMemoryNodes,
  startNode,
  stopNode,
  TestHub,
  WAIT_MS,
} from './two-nodes.js';

let nodes: Node[];
const clients: signalR.HubConnection[] = [];
beforeAll(async () => {
  nodes = await startMemoryNodes(2);
});
afterAll(async () => {
  await Promise.all(nodes.map(stopNode));
});
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
});

async function client(node: Node, options: Parameters<typeof connectClient>[1]) {
  const c = await connectClient(node.url, options);
  clients.push(c);
  return c;
}

function collect<T>(stream: signalR.IStreamResult<T>) {
  const items: T[] = [];
  let subscription!: signalR.ISubscription<T>;
  const done = new Promise<T[]>((resolve, reject) => {
    subscription = stream.subscribe({
      next: (i) => items.push(i),
      complete: () => resolve(items),
      error: reject,
    });
  });
  return { items, done, subscription };
}

describe('streaming', () => {
  for (const [transport, protocol] of [
    ['WebSockets', 'messagepack'],
    ['ServerSentEvents', 'json'],
    ['LongPolling', 'messagepack'],
  ] as const) {
    it(`streaming - items then completion (${transport}, ${protocol})`, async () => {
      const a = await client(nodes[0]!, { transport, protocol });
      expect(await collect(a.stream<number>('Counter', 200)).done).toEqual(
        Array.from({ length: 200 }, (_, i) => i),
      );
    });
  }

  it('streaming - a client cancel (CancelInvocation) aborts the method and ends its iterator', async () => {
    const a = await client(nodes[0]!, { transport: 'WebSockets', protocol: 'json' });
    const id = `cancel-${Date.now()}`;
    const stream = collect(a.stream<string>('Forever', id));
    await waitFor(() => stream.items.length === 1, { name: 'the first item', timeoutMs: WAIT_MS });
    stream.subscription.dispose();
    await waitFor(() => seen.cancelled.includes(id), {
      name: 'the stream to be cancelled',
      timeoutMs: WAIT_MS,
    });
    expect(await a.invoke('Echo', 'after cancel')).toBe('after cancel');
  });

  it('streaming - a connection that leaves aborts its streams', async () => {
    const a = await connectClient(nodes[0]!.url, { transport: 'WebSockets', protocol: 'json' });
    const id = `leave-${Date.now()}`;
    const stream = collect(a.stream<string>('Forever', id));
    stream.done.catch(() => {});
    await waitFor(() => stream.items.length === 1, { name: 'the first item', timeoutMs: WAIT_MS });
    await a.stop();
    await waitFor(() => seen.cancelled.includes(id), {
      name: 'the stream to be aborted',
      timeoutMs: WAIT_MS,
    });
  });

  it('streaming - an error during the stream ends it with SignalR’s streaming error', async () => {
    const a = await client(nodes[0]!, { transport: 'WebSockets', protocol: 'json' });
    const stream = collect(a.stream<number>('BrokenStream'));
    await expect(stream.done).rejects.toThrow('An error occurred on the server while streaming results.');
    expect(stream.items).toEqual([1]);
  });
});

describe('client results', () => {
  it('client results - a hub method can ask its own caller (no deadlock with one invocation at a time)', async () => {
    const a = await client(nodes[0]!, { transport: 'WebSockets', protocol: 'json' });
    a.on('Ask', (question: string) => `caller answers ${question}`);
    expect(await a.invoke('AskCaller', 'q')).toBe('caller answers q');
  });

  it('client results - an error thrown by the asked client on another node reaches the hub method', async () => {
    const [n1, n2] = nodes as [Node, Node];
    const asker = await client(n1, { transport: 'WebSockets', protocol: 'messagepack' });
    const asked = await client(n2, { transport: 'LongPolling', protocol: 'json' });
    asked.on('Ask', () => {
      throw new Error('no answer');
    });
    const askedId = await asked.invoke<string>('GetConnectionId');
    await expect(asker.invoke('AskClient', askedId, 'q')).rejects.toThrow(
      "An unexpected error occurred invoking 'AskClient' on the server. HubException:",
    );
  });

  it('client results - asking a connection that does not exist fails the call', async () => {
    const a = await client(nodes[0]!, { transport: 'WebSockets', protocol: 'json' });
    await expect(a.invoke('AskClient', 'nobody', 'q')).rejects.toThrow(
      "An unexpected error occurred invoking 'AskClient'",
    );
  });
});

describe('hub lifecycle', () => {
  it("lifecycle - a client's invocations run one at a time, in order", async () => {
    seen.marks.length = 0;
    seen.gate = gate();
    const a = await client(nodes[0]!, { transport: 'WebSockets', protocol: 'json' });
    const first = a.invoke('WaitForGate');
    const second = a.invoke('Mark', 'second');
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS)); // 'second' must not overtake
    expect(seen.marks).toEqual([]);
    seen.gate.open();
    await Promise.all([first, second]);
    expect(seen.marks).toEqual(['gate passed', 'second']);
  });

  it('lifecycle - onConnected runs before the first call, onDisconnected after the end, with context.items', async () => {
    const a = await connectClient(nodes[1]!.url, { transport: 'ServerSentEvents', protocol: 'json' });
    const id = await a.invoke<string>('GetConnectionId');
    expect(seen.connected).toContain(id);
    expect(await a.invoke('GetItem')).toBe(`item of ${id}`);
    await a.stop();
    await waitFor(() => seen.disconnected.some((d) => d.connectionId === id), {
      name: 'onDisconnected',
      timeoutMs: WAIT_MS,
    });
    expect(seen.disconnected.find((d) => d.connectionId === id)).toEqual({
      connectionId: id,
      error: undefined,
      item: `item of ${id}`,
    });
  });

  it('lifecycle - the client-side connectionId is the hub’s when negotiate and transport are on the same node', async () => {
    for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling'] as const) {
      const a = await client(nodes[0]!, { transport, protocol: 'json' });
      expect(await a.invoke('GetConnectionId')).toBe(a.connectionId);
    }
  });
});

describe('hub context and hosting', () => {
  it('hub context - an HTTP handler on node 1 reaches clients on node 2 (all, group, user, connection)', async () => {
    const [n1, n2] = nodes as [Node, Node];
    const b = await client(n2, { transport: 'WebSockets', protocol: 'json', user: 'bea' });
    const bId = await b.invoke<string>('GetConnectionId');
    const chat = n1.hubs.hubContext('/chat');
    await chat.groupManager.add(bId, 'ops');

    const received: unknown[][] = [];
    b.on('ReceiveMessage', (...args: unknown[]) => received.push(args));
    await chat.all.send('ReceiveMessage', 'api', 'all');
    await chat.group('ops').send('ReceiveMessage', 'api', 'group');
    await chat.user('bea').send('ReceiveMessage', 'api', 'user');
    await chat.client(bId).send('ReceiveMessage', 'api', 'connection');
    await waitFor(() => received.length === 4, { name: 'four messages', timeoutMs: WAIT_MS });
    expect(received.map((r) => r[1])).toEqual(['all', 'group', 'user', 'connection']);
    expect(() => n1.hubs.hubContext('/nope')).toThrow("No hub is mapped at '/nope'.");
  });

  it('hosting - attach serves only hub paths; the app keeps its other routes and WebSocket upgrades', async () => {
    const bus = new MemoryBus();
    const manager = new HubLifetimeManager({
      driver: new MemoryDriver({ bus }),
      hub: 'chat',
      logger: quiet,
    });
    const server: Server = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`app saw ${req.url}`);
    });
    const appSockets = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      if (req.url?.startsWith('/app-ws'))
        appSockets.handleUpgrade(req, socket, head, (ws) => ws.send('app socket'));
    });
    const hubs = new HubServer({ logger: quiet }).mapHub('/hubs/chat', TestHub, manager).attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(await (await fetch(`${base}/api/things`)).text()).toBe('app saw /api/things');
      expect(await (await fetch(`${base}/hubs/chatty`)).text()).toBe('app saw /hubs/chatty');
      const appWs = new WebSocket(`${base.replace('http', 'ws')}/app-ws`);
      expect(
        await new Promise((resolve) => appWs.once('message', (data: Buffer) => resolve(data.toString()))),
      ).toBe('app socket');
      appWs.close();
      const c = await new signalR.HubConnectionBuilder()
        .withUrl(`${base}/hubs/chat`)
        .configureLogging(signalR.LogLevel.None)
        .build();
      await c.start();
      expect(await c.invoke('Echo', 'hub too')).toBe('hub too');
      await c.stop();
    } finally {
      await hubs.close();
      appSockets.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await manager.close();
    }
  });

  it('shutdown - close() sends Close with allowReconnect, then refuses new connections with 503', async () => {
    const bus = new MemoryBus();
    const node = await startNode(new MemoryDriver({ bus }), 'closing');
    const ws = await RawSocket.handshaken(node.url);
    const polled = await connectClient(node.url, { transport: 'LongPolling', protocol: 'json' });
    const pollClosed = new Promise<Error | undefined>((resolve) => polled.onclose(resolve));
    const closing = node.hubs.close();
    expect(await ws.nextNonPing()).toEqual({ type: 7, allowReconnect: true });
    await ws.closed;
    await closing;
    expect(await pollClosed).toBeUndefined(); // a Close allowing reconnect is not an error
    expect((await fetch(`${node.url}/chat/negotiate`, { method: 'POST' })).status).toBe(503);
    expect(await upgradeStatus(`${node.url}/chat`)).toBe(503);
    await stopNode(node);
  });

  it('shutdown - a client with automatic reconnect moves to another node when its node shuts down', async () => {
    const bus = new MemoryBus();
    const [leaving, staying] = await Promise.all([
      startNode(new MemoryDriver({ bus }), 'leaving'),
      startNode(new MemoryDriver({ bus }), 'staying'),
    ]);
    let target = leaving.url;
    const c = new signalR.HubConnectionBuilder()
      .withUrl('http://placeholder/chat', {
        transport: signalR.HttpTransportType.WebSockets,
      })
      .withAutomaticReconnect([0, 50, 100, 200])
      .configureLogging(signalR.LogLevel.None)
      .build();
    c.baseUrl = `${target}/chat`;
    c.onreconnecting(() => {
      target = staying.url;
      c.baseUrl = `${target}/chat`;
    });
    await c.start();
    const before = await c.invoke<string>('GetConnectionId');
    expect(before).toMatch(/\.leaving-/);
    const reconnected = new Promise<string | undefined>((resolve) => c.onreconnected(resolve));
    await leaving.hubs.close();
    await reconnected;
    expect(await c.invoke<string>('GetConnectionId')).toMatch(/\.staying-/);
    await c.stop();
    await Promise.all([stopNode(leaving), stopNode(staying)]);
  });
});

describe('no sticky sessions', () => {
  it('no sticky sessions - SSE and long polling requests that reach a node without the connection are served by its owner', async () => {
    const [n1, n2] = nodes as [Node, Node];
    const body = (await (
      await fetch(`${n1.url}/chat/negotiate?negotiateVersion=1`, { method: 'POST' })
    ).json()) as {
      connectionToken: string;
    };
    const id = encodeURIComponent(body.connectionToken);
    expect((await fetch(`${n1.url}/chat?id=${id}`)).status).toBe(200); // long polling opened on node 1
    const post = await fetch(`${n2.url}/chat?id=${id}`, {
      method: 'POST',
      body: `{"protocol":"json","version":1}${RS}`,
    });
    expect(post.status).toBe(200); // forwarded to node 1
    const poll = await fetch(`${n2.url}/chat?id=${id}`); // answered from node 1's buffer
    expect(poll.status).toBe(200);
    expect(await poll.text()).toBe(`{}${RS}`);
    expect((await fetch(`${n2.url}/chat?id=${id}`, { method: 'DELETE' })).status).toBe(202);
    expect((await fetch(`${n1.url}/chat?id=${id}`)).status).toBe(404); // gone on its owner
  });
});
