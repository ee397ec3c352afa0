import type { Driver } from '@backplane/core';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { RedisDriver } from '@backplane/redis';
import {
  type RedisServerHandle,
  type RoundRobinBalancer,
  startRedis,
  startRoundRobinBalancer,
  waitFor,
} from '@backplane/testkit';
import type * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClientOptions,
  connectClient,
  type Node,
  nextCall,
  seen,
  startNode,
  stopNode,
  WAIT_MS,
} from './two-nodes.js';

/** The HTTP transports (WebSockets need no help: their token opens a connection on any node). */
const combos: Array<Pick<ClientOptions, 'transport' | 'protocol'>> = [
  { transport: 'ServerSentEvents', protocol: 'json' },
  { transport: 'LongPolling', protocol: 'json' },
  { transport: 'LongPolling', protocol: 'messagepack' },
];

/** Messages sent each way in the order checks. */
const MESSAGES = 200;

interface Backend {
  readonly name: string;
  /** A driver factory for the nodes, and what stops the broker. */
  start(): Promise<{ driver: () => Driver; stop(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'memory',
    start: async () => {
      const bus = new MemoryBus();
      return { driver: () => new MemoryDriver({ bus }), stop: async () => {} };
    },
  },
  {
    name: 'redis',
    start: async () => {
      const redis: RedisServerHandle = await startRedis();
      return { driver: () => new RedisDriver({ url: redis.url }), stop: () => redis.stop() };
    },
  },
];

for (const backend of backends) {
  describe(`no sticky sessions (${backend.name})`, () => {
    let nodes: Node[];
    let balancer: RoundRobinBalancer;
    let stopBroker: () => Promise<void>;
    const clients: signalR.HubConnection[] = [];

    beforeAll(async () => {
      const broker = await backend.start();
      stopBroker = broker.stop;
      nodes = await Promise.all(
        ['a', 'b', 'c'].map((id) => startNode(broker.driver(), `${backend.name}-${id}`)),
      );
      balancer = await startRoundRobinBalancer(nodes.map((n) => n.url));
    }, 60_000);
    afterAll(async () => {
      await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
      await balancer.close();
      await Promise.all(nodes.map(stopNode));
      await stopBroker();
    });
    afterEach(async () => {
      await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
    });

    async function client(url: string, options: ClientOptions) {
      const c = await connectClient(url, options);
      clients.push(c);
      return c;
    }

    for (const combo of combos) {
      const label = `${combo.transport}, ${combo.protocol}`;

      it(`no sticky sessions - a client behind a round-robin balancer works, messages in order both ways (${label})`, async () => {
        const before = [...balancer.hits];
        const c = await client(balancer.url, { ...combo, user: 'alice' });
        const id = await c.invoke<string>('GetConnectionId');
        // Client to server: fire-and-forget sends, each its own POST, through whichever node comes next.
        const marks = Array.from({ length: MESSAGES }, (_, i) => `${id}:${i}`);
        for (const mark of marks) await c.send('Mark', mark);
        expect(await c.invoke('Echo', 'flushed')).toBe('flushed');
        expect(seen.marks.filter((m) => m.startsWith(`${id}:`))).toEqual(marks);

        // Server to client: a sender on one node, the client's connection on another, its polls on any.
        const sender = await client(nodes[2]!.url, { transport: 'WebSockets', protocol: 'json' });
        const received: string[] = [];
        c.on('ReceiveMessage', (_user: string, message: string) => received.push(message));
        for (let i = 0; i < MESSAGES; i++) void sender.send('SendToConnection', id, 'bob', `m${i}`);
        await waitFor(() => received.length >= MESSAGES, { timeoutMs: WAIT_MS * 2 });
        expect(received).toEqual(Array.from({ length: MESSAGES }, (_, i) => `m${i}`));

        // Groups and users cross too.
        await c.invoke('JoinGroup', 'room');
        const inGroup = nextCall(c, 'ReceiveMessage');
        await sender.invoke('SendToGroup', 'room', 'bob', 'to room');
        expect(await inGroup).toEqual(['bob', 'to room']);
        const toUser = nextCall(c, 'ReceiveMessage');
        await sender.invoke('SendToUser', 'alice', 'bob', 'to alice');
        expect(await toUser).toEqual(['bob', 'to alice']);

        // Every node took part.
        const spread = balancer.hits.map((h, i) => h - before[i]!);
        expect(spread.every((h) => h > 0)).toBe(true);
      }, 30_000); // 400 forwarded requests and more: seconds on a loaded machine

      it(`no sticky sessions - a 32 KB message passes, a larger one ends the connection as on one node (${label})`, async () => {
        const big = 'x'.repeat(30_000);
        const endings: string[] = [];
        for (const url of [balancer.url, nodes[0]!.url]) {
          const c = await client(url, combo);
          expect(await c.invoke('Echo', big)).toBe(big);
          const closed = new Promise<Error | undefined>((resolve) => c.onclose(resolve));
          void c.send('Echo', 'y'.repeat(40_000)).catch(() => {});
          endings.push(String(await closed));
        }
        expect(endings[0]).toMatch(/closed with an error/);
        expect(endings[0]).toBe(endings[1]);
      });

      it(`no sticky sessions - a burst larger than one forwarded answer arrives whole and in order (${label})`, async () => {
        const c = await client(balancer.url, combo);
        const id = await c.invoke<string>('GetConnectionId');
        const sender = await client(nodes[1]!.url, { transport: 'WebSockets', protocol: 'json' });
        const received: string[] = [];
        c.on('ReceiveMessage', (_user: string, message: string) => received.push(message));
        // 40 × 20 KB: more than a forwarded poll carries (256 KiB), so the owner's buffer drains in parts.
        const burst = Array.from({ length: 40 }, (_, i) => `${i}:${'z'.repeat(20_000)}`);
        for (const message of burst) void sender.send('SendToConnection', id, 'bob', message);
        await waitFor(() => received.length >= burst.length, { timeoutMs: WAIT_MS * 2 });
        expect(received.map((m) => m.slice(0, m.indexOf(':')))).toEqual(burst.map((_, i) => String(i)));
        expect(received).toEqual(burst);
      }, 30_000);

      it(`no sticky sessions - a stopped connection ends on its node (${label})`, async () => {
        const c = await client(balancer.url, combo);
        const id = await c.invoke<string>('GetConnectionId');
        await c.stop();
        await waitFor(() => seen.disconnected.some((d) => d.connectionId === id), { timeoutMs: WAIT_MS });
      });
    }

    it('no sticky sessions - a second poll for a connection ends the first with 204, DELETE ends it', async () => {
      // Raw HTTP through the balancer: negotiate (its node owns the connection), the opening poll, then two
      // polls: the first held on the owner, the second forwarded from the next node.
      const negotiated = (await (
        await fetch(`${balancer.url}/chat/negotiate?negotiateVersion=1`, { method: 'POST' })
      ).json()) as { connectionToken: string; connectionId: string };
      const owner = nodes.findIndex((n) => negotiated.connectionId.endsWith(`.${n.manager.serverId}`));
      expect(owner).toBeGreaterThanOrEqual(0);
      const url = `${balancer.url}/chat?id=${encodeURIComponent(negotiated.connectionToken)}`;
      expect((await fetch(url)).status).toBe(200); // opens the connection (on the owner, wherever it lands)
      await advanceTo(owner);
      const arrived = new Promise((resolve) => nodes[owner]!.server.once('request', resolve));
      const first = fetch(url);
      await arrived; // the owner's endpoint ran before this listener: the poll is held
      const second = fetch(url); // on the next node: forwarded
      expect((await first).status).toBe(204);
      const deleted = await fetch(url, { method: 'DELETE' });
      expect(deleted.status).toBe(202);
      expect((await second).status).toBe(204);
      expect((await fetch(url, { method: 'POST', body: '{}\u001e' })).status).toBe(404);
    });

    it('no sticky sessions - a POST over the body limit forwarded from another node is refused with 413', async () => {
      const negotiated = (await (
        await fetch(`${balancer.url}/chat/negotiate?negotiateVersion=1`, { method: 'POST' })
      ).json()) as { connectionToken: string; connectionId: string };
      const owner = nodes.findIndex((n) => negotiated.connectionId.endsWith(`.${n.manager.serverId}`));
      const url = `${balancer.url}/chat?id=${encodeURIComponent(negotiated.connectionToken)}`;
      expect((await fetch(url)).status).toBe(200);
      await advanceTo((owner + 1) % nodes.length); // a node that forwards the POST
      const tooLarge = await fetch(url, { method: 'POST', body: 'x'.repeat(200_000) }).catch(() => undefined);
      // The owner refuses it (413) and ends the connection, as it would a POST it received itself.
      if (tooLarge) expect(tooLarge.status).toBe(413);
      await waitFor(async () => (await fetch(url)).status === 404, { timeoutMs: WAIT_MS });
    });

    it('no sticky sessions - a second Server-Sent Events stream for a connection gets 409 on every node; the first keeps its messages', async () => {
      const negotiated = (await (
        await fetch(`${balancer.url}/chat/negotiate?negotiateVersion=1`, { method: 'POST' })
      ).json()) as { connectionToken: string };
      const url = `${balancer.url}/chat?id=${encodeURIComponent(negotiated.connectionToken)}`;
      const events = { headers: { Accept: 'text/event-stream' } };
      const stream = await fetch(url, events);
      expect(stream.status).toBe(200);
      const reader = stream.body!.getReader();
      for (let i = 0; i < nodes.length; i++) {
        const again = await fetch(url, events);
        expect(again.status).toBe(409);
        await again.arrayBuffer();
      }
      const handshake = await fetch(url, { method: 'POST', body: '{"protocol":"json","version":1}\u001e' });
      expect(handshake.status).toBe(200);
      let text = '';
      const decoder = new TextDecoder();
      while (!text.includes('data: {}\u001e')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
      expect(text).toContain('data: {}\u001e');
      await reader.cancel();
    });

    /** Sends requests that change nothing until the balancer's next target is `index`. */
    async function advanceTo(index: number): Promise<void> {
      const total = () => balancer.hits.reduce((a, b) => a + b, 0);
      while (total() % nodes.length !== index)
        await fetch(`${balancer.url}/chat/negotiate`).then((r) => r.arrayBuffer());
    }
  });
}
