import { waitFor } from '@backplane/testkit';
import type * as signalR from '@microsoft/signalr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from './chat-client.js';
import { SERVE_BROKERS, type ServeProcess, startServe } from './serve-process.js';

/** How long the survivors may take to stop counting a killed node's connections, in ms. */
const FORGOTTEN_WITHIN_MS = 20_000;
/** Users connected to each node; the last node is killed, so `zoe` is online only there. */
const USERS = [['ana', 'ben'], ['cy'], ['zoe', 'yan']] as const;

// Redis counts a query's receivers (a killed node's subscriptions go with its socket); NATS learns from
// missed heartbeats. Kafka answers like NATS, at several times the cost of a run.
for (const driver of SERVE_BROKERS.filter((d) => d.name !== 'kafka')) {
  describe(`presence after a crash (${driver.name})`, () => {
    let broker: { url: string; stop(): Promise<void> } | undefined;
    let nodes: ServeProcess[] = [];
    beforeAll(async () => {
      broker = await driver.start();
      nodes = await Promise.all(
        ['p1', 'p2', 'p3'].map((id) =>
          startServe(['--driver', driver.name, '--url', broker!.url, '--node-id', id, '--token-secret', 's']),
        ),
      );
    }, 120_000);
    afterAll(async () => {
      await Promise.allSettled(nodes.map((n) => n.stop()));
      await broker?.stop();
    });

    it("presence - a SIGKILLed node: GroupCount drops to the survivors' members, its only user goes offline", async () => {
      const clients: signalR.HubConnection[][] = [];
      for (const [i, users] of USERS.entries()) {
        const onNode: signalR.HubConnection[] = [];
        for (const user of users) {
          const client = await connect(nodes[i]!.url, 'WebSockets', 'json', user);
          await client.invoke('JoinGroup', 'p');
          onNode.push(client);
        }
        clients.push(onNode);
      }
      const asker = clients[0]![0]!;
      const total = USERS.flat().length;
      const survivors = USERS.slice(0, 2).flat().length;
      // Every node answers from the start (a node that has not heard the others yet may count fewer).
      await waitFor(async () => (await asker.invoke<number>('GroupCount', 'p')) === total, {
        name: `GroupCount('p') = ${total}`,
        timeoutMs: FORGOTTEN_WITHIN_MS,
      });
      expect(await clients[1]![0]!.invoke<number>('GroupCount', 'p')).toBe(total);
      expect(await asker.invoke<boolean>('UserOnline', 'zoe')).toBe(true);

      await nodes[2]!.process.kill();
      await waitFor(async () => (await asker.invoke<number>('GroupCount', 'p')) === survivors, {
        name: `GroupCount('p') = ${survivors} after the kill`,
        timeoutMs: FORGOTTEN_WITHIN_MS,
        intervalMs: 250,
      });
      await waitFor(async () => (await asker.invoke<boolean>('UserOnline', 'zoe')) === false, {
        name: 'zoe offline',
        timeoutMs: FORGOTTEN_WITHIN_MS,
        intervalMs: 250,
      });
      expect(await clients[1]![0]!.invoke<number>('GroupCount', 'p')).toBe(survivors);
      expect(await asker.invoke<boolean>('UserOnline', 'cy')).toBe(true);
      expect(await clients[1]![0]!.invoke<boolean>('UserOnline', 'ana')).toBe(true);
    }, 90_000);
  });
}
