import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { waitFor } from '@backplane/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, type Node, startNode, stopNode, TestHub } from './two-nodes.js';

/** A chat hub that answers "who is online" from every node, through `this.presence`. */
class PresenceHub extends TestHub {
  async WhoIsOnline(userIds: string[]) {
    const answers = await Promise.all(userIds.map((user) => this.presence.isUserOnline(user)));
    return {
      online: userIds.filter((_, i) => answers[i]!.value),
      partial: answers.some((answer) => answer.partial),
    };
  }
  async Counts(group: string) {
    const [all, room] = [await this.presence.connectionCount(), await this.presence.groupCount(group)];
    return { connections: all.value, group: room.value, servers: all.servers, partial: all.partial };
  }
  async MyGroups() {
    return (await this.presence.connectionGroups(this.context.connectionId)).value;
  }
}

let nodes: Node[];
beforeAll(async () => {
  const bus = new MemoryBus();
  nodes = [
    await startNode(new MemoryDriver({ bus }), 'east', {}, PresenceHub),
    await startNode(new MemoryDriver({ bus }), 'west', {}, PresenceHub),
  ];
});
afterAll(async () => {
  await Promise.all(nodes.map(stopNode));
});

describe('presence', () => {
  it('presence - a hub method answers who is online across nodes to the official client', async () => {
    const [east, west] = nodes as [Node, Node];
    const alice = await connectClient(east.url, { transport: 'WebSockets', protocol: 'json', user: 'alice' });
    const bob = await connectClient(west.url, {
      transport: 'LongPolling',
      protocol: 'messagepack',
      user: 'bob',
    });
    const carol = await connectClient(east.url, {
      transport: 'LongPolling',
      protocol: 'json',
      user: 'carol',
    });
    try {
      await alice.invoke('JoinGroup', 'room');
      await bob.invoke('JoinGroup', 'room');
      expect(await carol.invoke('WhoIsOnline', ['alice', 'bob', 'dave'])).toEqual({
        online: ['alice', 'bob'],
        partial: false,
      });
      expect(await carol.invoke('Counts', 'room')).toEqual({
        connections: 3,
        group: 2,
        servers: 2,
        partial: false,
      });
      // Asked on the other node, answered by the node that holds the connection.
      expect(await bob.invoke('MyGroups')).toEqual(['room']);
      expect(await west.hubs.hubContext('/chat').presence.userConnectionCount('alice')).toMatchObject({
        value: 1,
        partial: false,
      });
      await bob.stop();
      // The hub server unregisters bob once its transport has closed.
      await waitFor(
        async () => {
          const answer = await carol.invoke('WhoIsOnline', ['alice', 'bob']);
          return JSON.stringify(answer) === JSON.stringify({ online: ['alice'], partial: false });
        },
        { name: 'bob offline' },
      );
      expect(await alice.invoke('Counts', 'room')).toEqual({
        connections: 2,
        group: 1,
        servers: 2,
        partial: false,
      });
    } finally {
      await Promise.all([alice.stop(), bob.stop(), carol.stop()]);
    }
  });
});
