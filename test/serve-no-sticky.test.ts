import { type RoundRobinBalancer, startRoundRobinBalancer, waitFor } from '@backplane/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type HttpTransport, WAIT_MS } from './chat-client.js';
import { SERVE_BROKERS, type ServeProcess, startServe } from './serve-process.js';

const drivers = SERVE_BROKERS;

/** The HTTP transports; WebSockets through the same balancer for comparison. */
const combos: Array<[HttpTransport, 'json' | 'messagepack']> = [
  ['ServerSentEvents', 'json'],
  ['LongPolling', 'json'],
  ['LongPolling', 'messagepack'],
  ['WebSockets', 'messagepack'],
];

/** Messages sent each way. */
const MESSAGES = 100;

for (const driver of drivers) {
  describe(`backplane serve on ${driver.name} behind a round-robin balancer`, () => {
    let broker: { url: string; stop(): Promise<void> };
    let nodes: ServeProcess[];
    let balancer: RoundRobinBalancer;
    beforeAll(async () => {
      broker = await driver.start();
      nodes = await Promise.all(
        ['east', 'west', 'north'].map((id) =>
          startServe([
            '--driver',
            driver.name,
            '--url',
            broker.url,
            '--node-id',
            id,
            '--token-secret',
            's3cret',
          ]),
        ),
      );
      balancer = await startRoundRobinBalancer(nodes.map((n) => n.url));
    }, 120_000);
    afterAll(async () => {
      await balancer?.close();
      await Promise.allSettled((nodes ?? []).map((n) => n.stop()));
      await broker?.stop();
    });

    for (const [transport, protocol] of combos) {
      it(`no sticky sessions - ${driver.name}: messages in order both ways through a per-request round-robin balancer (${transport}, ${protocol})`, async () => {
        const before = [...balancer.hits];
        const client = await connect(balancer.url, transport, protocol, 'alice');
        const id = await client.invoke<string>('GetConnectionId');
        const received: string[] = [];
        client.on('ReceiveMessage', (_user: string, message: string) => received.push(message));
        // Client to server, one POST each (through whichever node comes next), each echoed back.
        for (let i = 0; i < MESSAGES; i++) await client.send('SendToConnection', id, 'alice', `c${i}`);
        // Server to client from another node's connection.
        const sender = await connect(nodes[1]!.url, 'WebSockets', 'json', 'bob');
        for (let i = 0; i < MESSAGES; i++) void sender.send('SendToConnection', id, 'bob', `s${i}`);
        await waitFor(() => received.length >= 2 * MESSAGES, { timeoutMs: WAIT_MS * 3 });
        const mine = received.filter((m) => m.startsWith('c'));
        const theirs = received.filter((m) => m.startsWith('s'));
        expect(mine).toEqual(Array.from({ length: MESSAGES }, (_, i) => `c${i}`));
        expect(theirs).toEqual(Array.from({ length: MESSAGES }, (_, i) => `s${i}`));
        // Every node served some of it (a WebSocket is two requests: negotiate and the upgrade).
        const served = balancer.hits.filter((h, i) => h > before[i]!).length;
        expect(served).toBe(transport === 'WebSockets' ? 2 : nodes.length);
        await client.stop();
      }, 30_000); // each forwarded request is a broker round trip: 200 of them on Kafka take seconds
    }
  });
}
