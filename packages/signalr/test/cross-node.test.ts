import type * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClientOptions,
  connectClient,
  expectNoCall,
  type Node,
  nextCall,
  startMemoryNodes,
  stopNode,
} from './two-nodes.js';

const combos: Array<Pick<ClientOptions, 'transport' | 'protocol'>> = [
  { transport: 'WebSockets', protocol: 'json' },
  { transport: 'ServerSentEvents', protocol: 'json' },
  { transport: 'LongPolling', protocol: 'json' },
  { transport: 'WebSockets', protocol: 'messagepack' },
  { transport: 'LongPolling', protocol: 'messagepack' },
];

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

async function client(node: Node, options: ClientOptions) {
  const c = await connectClient(node.url, options);
  clients.push(c);
  return c;
}

for (const combo of combos) {
  describe(`cross-node ${combo.transport} + ${combo.protocol}`, () => {
    it(`cross-node - every /chat route crosses nodes (${combo.transport}, ${combo.protocol})`, async () => {
      const [n1, n2] = nodes as [Node, Node];
      const a = await client(n1, { ...combo, user: 'alice' });
      const b = await client(n2, { ...combo, user: 'bob' });
      const bId = await b.invoke<string>('GetConnectionId');
      expect(bId).toMatch(/\.n2-/);

      const all = [nextCall(a, 'ReceiveMessage'), nextCall(b, 'ReceiveMessage')];
      await a.invoke('SendMessage', 'alice', 'to all');
      for (const got of await Promise.all(all)) expect(got).toEqual(['alice', 'to all']);

      await b.invoke('JoinGroup', 'room');
      const inGroup = nextCall(b, 'ReceiveMessage');
      await a.invoke('SendToGroup', 'room', 'alice', 'to room');
      expect(await inGroup).toEqual(['alice', 'to room']);
      await expectNoCall(a, 'ReceiveMessage');

      const toUser = nextCall(b, 'ReceiveMessage');
      await a.invoke('SendToUser', 'bob', 'alice', 'to bob');
      expect(await toUser).toEqual(['alice', 'to bob']);

      const toConnection = nextCall(b, 'ReceiveMessage');
      await a.invoke('SendToConnection', bId, 'alice', 'direct');
      expect(await toConnection).toEqual(['alice', 'direct']);

      const toOthers = nextCall(b, 'ReceiveMessage');
      await a.invoke('SendToOthers', 'alice', 'not me');
      expect(await toOthers).toEqual(['alice', 'not me']);
      await expectNoCall(a, 'ReceiveMessage');

      await b.invoke('LeaveGroup', 'room');
      await a.invoke('SendToGroup', 'room', 'alice', 'nobody');
      await expectNoCall(b, 'ReceiveMessage');

      expect(await a.invoke('Echo', { nested: [1, 'two'] })).toEqual({ nested: [1, 'two'] });

      b.on('Ask', (question: string) => `answer to ${question}`);
      expect(await a.invoke('AskClient', bId, 'life')).toBe('answer to life');
    });
  });
}

describe('cross-node specifics', () => {
  it('no sticky sessions - negotiate on node 1, WebSocket on node 2', async () => {
    const [n1, n2] = nodes as [Node, Node];
    const negotiate = await fetch(`${n1.url}/chat/negotiate?negotiateVersion=1&user=carol`, {
      method: 'POST',
    });
    const { connectionToken } = (await negotiate.json()) as { connectionToken: string };
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(
      `${n2.url.replace('http', 'ws')}/chat?id=${encodeURIComponent(connectionToken)}`,
    );
    const frames: string[] = [];
    const frame = () =>
      new Promise<string>((resolve) => ws.once('message', (data: Buffer) => resolve(data.toString())));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send('{"protocol":"json","version":1}\u001e');
    frames.push(await frame());
    expect(frames[0]).toBe('{}\u001e');
    ws.send('{"type":1,"invocationId":"1","target":"GetUser","arguments":[]}\u001e');
    expect(await frame()).toBe('{"type":3,"invocationId":"1","result":"carol"}\u001e');
    ws.send('{"type":1,"invocationId":"2","target":"GetConnectionId","arguments":[]}\u001e');
    const id = JSON.parse((await frame()).slice(0, -1)).result as string;
    expect(id).toMatch(/\.n2-/); // node 2 holds it, so the id names node 2
    ws.close();
  });

  it('streaming - an async iterable streams to the client and completes', async () => {
    const [n1] = nodes as [Node];
    const a = await client(n1, { transport: 'WebSockets', protocol: 'json' });
    const items: number[] = [];
    await new Promise<void>((resolve, reject) => {
      a.stream<number>('Counter', 5).subscribe({
        next: (i) => items.push(i),
        complete: resolve,
        error: reject,
      });
    });
    expect(items).toEqual([0, 1, 2, 3, 4]);
  });

  it('errors - hub errors are hidden unless detailed, unknown methods and wrong arity are reported', async () => {
    const [n1] = nodes as [Node];
    const a = await client(n1, { transport: 'WebSockets', protocol: 'json' });
    await expect(a.invoke('Fail')).rejects.toThrow(
      "An unexpected error occurred invoking 'Fail' on the server.",
    );
    await expect(a.invoke('Fail')).rejects.not.toThrow('secret internals');
    await expect(a.invoke('NoSuchMethod')).rejects.toThrow("Unknown hub method 'NoSuchMethod'");
    await expect(a.invoke('Echo', 1, 2)).rejects.toThrow(
      'Invocation provides 2 argument(s) but target expects 1.',
    );
    expect(await a.invoke('Echo', 'still fine')).toBe('still fine');
  });

  it('skipNegotiation - a WebSocket without negotiate works on any node', async () => {
    const [, n2] = nodes as [Node, Node];
    const a = await client(n2, { transport: 'WebSockets', protocol: 'json', skipNegotiation: true });
    expect(await a.invoke('Echo', 'direct')).toBe('direct');
  });
});
