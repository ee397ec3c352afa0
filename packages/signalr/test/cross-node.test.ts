import type * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClientOptions,
  connectClient,
  expectNoCall,
  type Node,
  nextCall,
  startMemoryNodes,
  startSplitBalancer,
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

  it('no sticky sessions - the official client negotiates on node 1 and holds its WebSocket on node 2', async () => {
    const [n1, n2] = nodes as [Node, Node];
    const balancer = await startSplitBalancer(n1, n2);
    try {
      const roamer = await client({ url: balancer.url } as Node, {
        transport: 'WebSockets',
        protocol: 'json',
        user: 'roamer',
      });
      const local = await client(n1, { transport: 'WebSockets', protocol: 'json', user: 'local' });
      expect(roamer.connectionId).toMatch(/\.n1-/); // what negotiate (node 1) said
      const hubSideId = await roamer.invoke<string>('GetConnectionId');
      expect(hubSideId).toMatch(/\.n2-/); // node 2 holds the connection, so it minted the id
      expect(await roamer.invoke('GetUser')).toBe('roamer'); // the identity travelled in the token

      const toRoamer = nextCall(roamer, 'ReceiveMessage');
      await local.invoke('SendToConnection', hubSideId, 'local', 'found you');
      expect(await toRoamer).toEqual(['local', 'found you']);
      const toLocal = nextCall(local, 'ReceiveMessage');
      await roamer.invoke('SendToUser', 'local', 'roamer', 'hi');
      expect(await toLocal).toEqual(['roamer', 'hi']);
    } finally {
      await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
      await balancer.close();
    }
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

  it('errors - SignalR error strings: hidden internals, HubError passes, unknown method, wrong arity, stream mode', async () => {
    const [n1] = nodes as [Node];
    const a = await client(n1, { transport: 'WebSockets', protocol: 'json' });
    const fail = a.invoke('Fail');
    await expect(fail).rejects.toThrow("An unexpected error occurred invoking 'Fail' on the server.");
    await expect(fail).rejects.not.toThrow('secret internals');
    await expect(a.invoke('FailForCaller')).rejects.toThrow(
      "An unexpected error occurred invoking 'FailForCaller' on the server. HubException: You may see this.",
    );
    await expect(a.invoke('NoSuchMethod')).rejects.toThrow(
      "Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method does not exist.",
    );
    await expect(a.invoke('_Hidden')).rejects.toThrow('HubException: Method does not exist.');
    const arity = a.invoke('Echo', 1, 2);
    await expect(arity).rejects.toThrow("Failed to invoke 'Echo' due to an error on the server.");
    await expect(arity).rejects.not.toThrow('InvalidDataException');
    await expect(a.invoke('Forever', 'x')).rejects.toThrow(
      "The client attempted to invoke the streaming 'Forever' method with a non-streaming invocation.",
    );
    const streamed = new Promise((resolve, reject) =>
      a.stream('Echo', 1).subscribe({ next: () => {}, complete: () => resolve('completed'), error: reject }),
    );
    await expect(streamed).rejects.toThrow(
      "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation.",
    );
    expect(await a.invoke('echo', 'names match case-insensitively')).toBe('names match case-insensitively');
  });

  it('errors - detailed errors add the exception type and message', async () => {
    const [detailed] = await startMemoryNodes(1, { enableDetailedErrors: true });
    try {
      const a = await client(detailed!, { transport: 'WebSockets', protocol: 'json' });
      await expect(a.invoke('Fail')).rejects.toThrow(
        "An unexpected error occurred invoking 'Fail' on the server. Error: secret internals",
      );
      await expect(a.invoke('Echo', 1, 2)).rejects.toThrow(
        "Failed to invoke 'Echo' due to an error on the server. InvalidDataException: Invocation provides 2 argument(s) but target expects 1.",
      );
      await a.stop();
    } finally {
      await stopNode(detailed!);
    }
  });

  it('skipNegotiation - a WebSocket without negotiate works on any node', async () => {
    const [, n2] = nodes as [Node, Node];
    const a = await client(n2, { transport: 'WebSockets', protocol: 'json', skipNegotiation: true });
    expect(await a.invoke('Echo', 'direct')).toBe('direct');
  });
});
