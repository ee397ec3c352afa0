import { type IncomingMessage, request } from 'node:http';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import type * as signalR from '@microsoft/signalr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub } from '../src/index.js';
import { RawSocket, RS } from './raw-client.js';
import { connectClient, type Node, nextCall, startNode, stopNode } from './two-nodes.js';

/** Resolves with a connection's `onDisconnected` error message, per connection id. */
const ends = new Map<
  string,
  { promise: Promise<string | undefined>; resolve(error: string | undefined): void }
>();

function endOf(connectionId: string) {
  let end = ends.get(connectionId);
  if (!end) {
    let resolve!: (error: string | undefined) => void;
    const promise = new Promise<string | undefined>((r) => {
      resolve = r;
    });
    end = { promise, resolve };
    ends.set(connectionId, end);
  }
  return end;
}

class EndsHub extends Hub {
  override onDisconnected(error?: Error) {
    endOf(this.context.connectionId).resolve(error?.message);
  }
}

async function negotiate(url: string): Promise<{ connectionId: string; token: string }> {
  const res = await fetch(`${url}/chat/negotiate?negotiateVersion=1`, { method: 'POST' });
  const body = (await res.json()) as { connectionId: string; connectionToken: string };
  return { connectionId: body.connectionId, token: encodeURIComponent(body.connectionToken) };
}

const HANDSHAKE = `{"protocol":"json","version":1}${RS}`;

describe('slow consumers', () => {
  const BUFFER_LIMIT = 256 * 1024;
  const BIG = 'y'.repeat(60_000);
  /** ~24 MB: far past the limit plus what the kernel's socket buffers absorb. */
  const MAX_BROADCASTS = 400;
  let node: Node;
  let bystander: signalR.HubConnection;

  beforeAll(async () => {
    node = await startNode(
      new MemoryDriver({ bus: new MemoryBus() }),
      's1',
      { transportMaxBufferSize: BUFFER_LIMIT },
      EndsHub,
    );
    bystander = await connectClient(node.url, { transport: 'WebSockets', protocol: 'json' });
  });
  afterAll(async () => {
    await bystander?.stop();
    await stopNode(node);
  });

  /**
   * Broadcasts 60 KB messages, each once the bystander has received the previous one (so the bystander is
   * never slow), until the stalled connection ends. Returns its `onDisconnected` error message.
   */
  async function broadcastUntilClosed(connectionId: string): Promise<string | undefined> {
    const end = endOf(connectionId);
    let closed = false;
    void end.promise.then(() => {
      closed = true;
    });
    const all = node.hubs.hubContext('/chat').all;
    for (let i = 0; i < MAX_BROADCASTS && !closed; i++) {
      const received = nextCall(bystander, 'Big');
      await all.send('Big', i, BIG);
      expect((await received)[0]).toBe(i);
    }
    expect(closed).toBe(true);
    // The bystander keeps receiving after the close.
    const after = nextCall(bystander, 'Big');
    await all.send('Big', -1, 'after');
    expect(await after).toEqual([-1, 'after']);
    return end.promise;
  }

  it('slow consumer - a WebSocket client that stops reading is closed and counted; a bystander gets every message', async () => {
    const before = node.hubs.stats.slowConsumerCloses;
    const { connectionId, token } = await negotiate(node.url);
    const c = await RawSocket.open(node.url, `?id=${token}`);
    c.send(HANDSHAKE);
    expect(await c.next()).toBe(`{}${RS}`);
    c.ws.pause(); // reads nothing more
    const error = await broadcastUntilClosed(connectionId);
    expect(error).toMatch(/transportMaxBufferSize/);
    expect(node.hubs.stats.slowConsumerCloses).toBe(before + 1);
    c.ws.terminate();
  });

  it('slow consumer - a Server-Sent Events client that stops reading is closed and counted; a bystander gets every message', async () => {
    const before = node.hubs.stats.slowConsumerCloses;
    const { connectionId, token } = await negotiate(node.url);
    const events = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(
        `${node.url}/chat?id=${token}`,
        { headers: { Accept: 'text/event-stream' } },
        resolve,
      );
      req.on('error', reject);
      req.end();
    });
    events.on('error', () => {});
    events.pause(); // reads nothing more
    const post = await fetch(`${node.url}/chat?id=${token}`, { method: 'POST', body: HANDSHAKE });
    expect(post.status).toBe(200);
    const error = await broadcastUntilClosed(connectionId);
    expect(error).toMatch(/transportMaxBufferSize/);
    expect(node.hubs.stats.slowConsumerCloses).toBe(before + 1);
    events.destroy();
  });

  it('slow consumer - a long-polling client that stops polling is closed and counted, and its next poll says so', async () => {
    const before = node.hubs.stats.slowConsumerCloses;
    const { connectionId, token } = await negotiate(node.url);
    const url = `${node.url}/chat?id=${token}`;
    expect((await fetch(url)).status).toBe(200); // the first poll, answered at once
    const post = await fetch(url, { method: 'POST', body: HANDSHAKE });
    expect(post.status).toBe(200);
    const error = await broadcastUntilClosed(connectionId); // no poll meanwhile (disconnectTimeout is 15 s)
    expect(error).toMatch(/transportMaxBufferSize/);
    expect(node.hubs.stats.slowConsumerCloses).toBe(before + 1);
    const poll = await fetch(url);
    expect(poll.status).toBe(200);
    expect(await poll.text()).toBe(`{"type":7,"error":"Connection closed with an error."}${RS}`);
  });
});
