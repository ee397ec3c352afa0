import { startTcpProxy, type TcpProxy, waitFor } from '@backplane/testkit';
import * as signalR from '@microsoft/signalr';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  type Node,
  SETTLE_MS,
  seen,
  startMemoryNodes,
  stopNode,
  WAIT_MS,
} from './two-nodes.js';

let nodes: Node[];
beforeAll(async () => {
  nodes = await startMemoryNodes(2);
});
afterAll(async () => {
  await Promise.all(nodes.map(stopNode));
});

describe('stateful reconnect', () => {
  for (const protocol of ['json', 'messagepack'] as const) {
    it(`stateful reconnect - a message from the other node that arrives while the socket is down is replayed once (${protocol})`, async () => {
      const [n1, n2] = nodes as [Node, Node];
      const proxy: TcpProxy = await startTcpProxy(Number(new URL(n1.url).port));
      let builder = new signalR.HubConnectionBuilder()
        .withUrl(`http://127.0.0.1:${proxy.port}/chat?user=resumer`, {
          transport: signalR.HttpTransportType.WebSockets,
        })
        .withStatefulReconnect()
        .configureLogging(signalR.LogLevel.None);
      if (protocol === 'messagepack') builder = builder.withHubProtocol(new MessagePackHubProtocol());
      const resumer = builder.build();
      const other = await connectClient(n2.url, { transport: 'WebSockets', protocol: 'json', user: 'other' });
      try {
        const received: string[] = [];
        resumer.on('ReceiveMessage', (_user: string, message: string) => received.push(message));
        await resumer.start();
        const id = await resumer.invoke<string>('GetConnectionId');

        // Cut the socket and hold the reconnect, so the message arrives while the connection is detached.
        proxy.hold();
        proxy.cut();
        const delivered = n1.manager.stats.delivered;
        await other.invoke('SendMessage', 'other', 'while you were away');
        await waitFor(() => n1.manager.stats.delivered > delivered, {
          name: 'node 1 to take the message',
          timeoutMs: WAIT_MS,
        });
        expect(received).toEqual([]);

        proxy.release();
        await waitFor(() => received.length > 0, { name: 'the replayed message', timeoutMs: WAIT_MS });
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS)); // a duplicate would arrive now
        expect(received).toEqual(['while you were away']);
        expect(resumer.state).toBe(signalR.HubConnectionState.Connected);
        expect(await resumer.invoke('GetConnectionId')).toBe(id); // the same connection, resumed

        await other.invoke('SendMessage', 'other', 'after');
        await waitFor(() => received.length === 2, {
          name: 'live traffic after the resume',
          timeoutMs: WAIT_MS,
        });
      } finally {
        await resumer.stop();
        await other.stop();
        await proxy.close();
      }
    });
  }

  /** A stateful, automatically reconnecting client on `node` through a proxy the test can cut. */
  async function resumerThroughProxy(node: Node) {
    const proxy = await startTcpProxy(Number(new URL(node.url).port));
    const resumer = new signalR.HubConnectionBuilder()
      .withUrl(`http://127.0.0.1:${proxy.port}/chat?user=resumer`, {
        transport: signalR.HttpTransportType.WebSockets,
      })
      .withStatefulReconnect()
      .withAutomaticReconnect([0, 50, 100])
      .configureLogging(signalR.LogLevel.None)
      .build();
    const received: string[] = [];
    resumer.on('ReceiveMessage', (_user: string, message: string) => received.push(message));
    await resumer.start();
    const reconnected = new Promise<string | undefined>((resolve) => resumer.onreconnected(resolve));
    return { proxy, resumer, received, reconnected };
  }

  it('stateful reconnect - when the resend buffer overflowed, the resume is refused and the client starts a new connection (no partial replay)', async () => {
    const [n1, n2] = await startMemoryNodes(2, { statefulReconnectBufferSize: 300 });
    const { proxy, resumer, received, reconnected } = await resumerThroughProxy(n1!);
    const other = await connectClient(n2!.url, { transport: 'WebSockets', protocol: 'json', user: 'other' });
    try {
      const id = await resumer.invoke<string>('GetConnectionId');
      proxy.hold();
      proxy.cut();
      const delivered = n1!.manager.stats.delivered;
      for (let i = 0; i < 5; i++) await other.invoke('SendMessage', 'other', `lost ${i} ${'x'.repeat(80)}`);
      await waitFor(() => n1!.manager.stats.delivered >= delivered + 5, {
        name: 'node 1 to take the messages',
        timeoutMs: WAIT_MS,
      });
      proxy.release();
      await reconnected;
      expect(await resumer.invoke('GetConnectionId')).not.toBe(id); // a new connection, not a resume with a hole
      expect(received).toEqual([]);
    } finally {
      await resumer.stop();
      await other.stop();
      await proxy.close();
      await Promise.all([stopNode(n1!), stopNode(n2!)]);
    }
  });

  it('stateful reconnect - a resume after the connection was cleaned up (disconnectTimeout) gets 404 and the client starts afresh', async () => {
    const [n1] = await startMemoryNodes(1, { disconnectTimeout: 100 });
    const { proxy, resumer, reconnected } = await resumerThroughProxy(n1!);
    try {
      const id = await resumer.invoke<string>('GetConnectionId');
      proxy.hold();
      proxy.cut();
      await waitFor(() => seen.disconnected.some((d) => d.connectionId === id), {
        name: 'node 1 to give the connection up',
        timeoutMs: WAIT_MS,
      });
      proxy.release();
      await reconnected;
      expect(await resumer.invoke('GetConnectionId')).not.toBe(id);
    } finally {
      await resumer.stop();
      await proxy.close();
      await stopNode(n1!);
    }
  });
});
