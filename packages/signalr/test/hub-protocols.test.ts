import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HubLifetimeManager, InvalidArgumentError } from '@backplane/core';
import { JsonHubProtocol, MessagePackHubProtocol } from '@backplane/hub-protocol';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { describe, expect, it } from 'vitest';
import { HubServer } from '../src/index.js';
import { RawSocket, RS } from './raw-client.js';
import { TestHub } from './two-nodes.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** A manager that serializes every send for JSON only. */
function jsonOnlyManager(): HubLifetimeManager {
  return new HubLifetimeManager({
    driver: new MemoryDriver({ bus: new MemoryBus() }),
    hub: 'chat',
    protocols: [new JsonHubProtocol()],
    logger: quiet,
  });
}

describe('hub protocols', () => {
  it('protocols - mapHub refuses a hub protocol its lifetime manager does not serialize for', async () => {
    const manager = jsonOnlyManager();
    try {
      const server = new HubServer({
        logger: quiet,
        protocols: [new JsonHubProtocol(), new MessagePackHubProtocol()],
      });
      expect(() => server.mapHub('/chat', TestHub, manager)).toThrow(InvalidArgumentError);
      expect(() => server.mapHub('/chat', TestHub, manager)).toThrow("'messagepack'");
      // Offering fewer than the manager serializes for is fine.
      expect(() =>
        new HubServer({ logger: quiet, protocols: [new JsonHubProtocol()] }).mapHub(
          '/chat',
          TestHub,
          manager,
        ),
      ).not.toThrow();
    } finally {
      await manager.close();
    }
  });

  it("protocols - without the option a hub server offers exactly its manager's protocols", async () => {
    const manager = jsonOnlyManager();
    await manager.start();
    const server = createServer();
    const hubs = new HubServer({ logger: quiet }).mapHub('/chat', TestHub, manager).attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const socket = await RawSocket.open(url);
      socket.send(`{"protocol":"messagepack","version":1}${RS}`);
      const response = await socket.nextJson<{ error?: string }>();
      expect(response.error).toContain('messagepack');
      await RawSocket.handshaken(url); // JSON, which the manager serializes for, is offered
    } finally {
      await hubs.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await manager.close();
    }
  });
});
