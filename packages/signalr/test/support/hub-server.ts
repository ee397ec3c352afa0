import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HubLifetimeManager } from '@backplane/core';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import * as signalR from '@microsoft/signalr';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import { HubServer, type HubServerOptions } from '../../src/index.js';
import { type ProtocolName, quiet, type TransportName } from '../two-nodes.js';

/** A HubServer with several mapped paths on one HTTP server, each hub on its own memory bus. */
export interface TestHubServer {
  readonly url: string;
  readonly hubs: HubServer;
  /** The managers made by `manager` in the mapping, in order. */
  readonly managers: readonly HubLifetimeManager[];
  /** An official client on `path` (a path and query), started and stopped by {@link stopClients}. */
  connect(
    path: string,
    transport: TransportName,
    options?: { protocol?: ProtocolName; accessToken?: string },
  ): Promise<signalR.HubConnection>;
  /** Stops the clients `connect` started. */
  stopClients(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a HubServer with `options` (quiet by default) whose paths `map` maps, on a random port. `manager(hub)`
 * gives `map` a memory-bus manager for one hub; they are started before the server listens.
 */
export async function startHubServer(
  options: HubServerOptions,
  map: (hubs: HubServer, manager: (hub: string) => HubLifetimeManager) => HubServer,
): Promise<TestHubServer> {
  const managers: HubLifetimeManager[] = [];
  const manager = (hub: string) => {
    const m = new HubLifetimeManager({
      driver: new MemoryDriver({ bus: new MemoryBus() }),
      nodeId: hub,
      hub,
      logger: quiet,
    });
    managers.push(m);
    return m;
  };
  const hubs = map(new HubServer({ logger: quiet, ...options }), manager);
  await Promise.all(managers.map((m) => m.start()));
  const server: Server = createServer();
  hubs.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients: signalR.HubConnection[] = [];
  return {
    url,
    hubs,
    managers,
    async connect(path, transport, { protocol = 'json', accessToken } = {}) {
      let builder = new signalR.HubConnectionBuilder()
        .withUrl(`${url}${path}`, {
          transport: signalR.HttpTransportType[transport],
          ...(accessToken && { accessTokenFactory: () => accessToken }),
        })
        .configureLogging(signalR.LogLevel.None);
      if (protocol === 'messagepack') builder = builder.withHubProtocol(new MessagePackHubProtocol());
      const c = builder.build();
      clients.push(c);
      await c.start();
      return c;
    },
    async stopClients() {
      await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
    },
    async close() {
      await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
      await hubs.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await Promise.all(managers.map((m) => m.close()));
    },
  };
}
