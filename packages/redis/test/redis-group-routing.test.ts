import { HubLifetimeManager } from '@backplane/core';
import { type RedisServerHandle, SETTLE_MS, startRedis, TestClient } from '@backplane/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisDriver } from '../src/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
let redis: RedisServerHandle;
beforeAll(async () => {
  redis = await startRedis();
}, 30_000);
afterAll(() => redis?.stop());

describe('redis group routing', () => {
  it('redis group routing - a group send from A reaches only the server with members (PUBSUB NUMSUB)', async () => {
    const managers = ['a', 'b', 'c'].map(
      (nodeId) =>
        new HubLifetimeManager({
          driver: new RedisDriver({ url: redis.url }),
          nodeId,
          prefix: 'route:',
          logger: quiet,
          liveness: false, // no self-probes: every received message here is one we count
        }),
    );
    const [a, b, c] = managers as [HubLifetimeManager, HubLifetimeManager, HubLifetimeManager];
    try {
      await Promise.all(managers.map((m) => m.start()));
      const member = new TestClient({ connectionId: b.createConnectionId() });
      const bystander = new TestClient({ connectionId: c.createConnectionId() });
      await b.onConnected(member);
      await c.onConnected(bystander);
      await a.addToGroup(member.connectionId, 'only-on-b');

      const channel = a.channels.group('only-on-b');
      expect(await redis.cli('pubsub', 'numsub', channel)).toBe(`${channel}\n1`);

      const receivedByC = c.stats.received;
      const receivedByA = a.stats.received;
      await a.sendGroup('only-on-b', 'Hello', ['World']);
      const message = await member.readInvocation();
      expect(message.arguments).toEqual(['World']);
      await bystander.expectNothing(SETTLE_MS);
      expect(c.stats.received).toBe(receivedByC); // C's subscriber connection got nothing at all
      expect(a.stats.received).toBe(receivedByA);

      await b.onDisconnected(member);
      expect(await redis.cli('pubsub', 'numsub', channel)).toBe(`${channel}\n0`);
    } finally {
      await Promise.all(managers.map((m) => m.close()));
    }
  });
});
