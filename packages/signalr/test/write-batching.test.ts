import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { waitFor } from '@backplane/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, type Node, startNode, stopNode, type TransportName, WAIT_MS } from './two-nodes.js';

const BURST = 50;

let node: Node;
beforeAll(async () => {
  node = await startNode(new MemoryDriver({ bus: new MemoryBus() }), 'batching');
});
afterAll(() => stopNode(node));

describe('write batching', () => {
  for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling'] as TransportName[]) {
    it(`batching - a burst sent in one iteration leaves as one message, in order (${transport})`, async () => {
      const client = await connectClient(node.url, { transport, protocol: 'json' });
      try {
        const received: number[] = [];
        client.on('Burst', (n: number) => received.push(n));
        const id = client.connectionId!;
        const before = node.hubs.stats;
        const clients = node.hubs.hubContext('/chat');
        // One synchronous loop: every send lands in the same event-loop iteration.
        for (let n = 0; n < BURST; n++) void clients.client(id).send('Burst', n);
        await waitFor(() => received.length === BURST, { name: `${BURST} messages`, timeoutMs: WAIT_MS });
        expect(received).toEqual(Array.from({ length: BURST }, (_, n) => n));
        const after = node.hubs.stats;
        expect(after.recordsSent - before.recordsSent).toBeGreaterThanOrEqual(BURST);
        expect(after.framesSent - before.framesSent).toBe(1);
      } finally {
        await client.stop();
      }
    });
  }
});
