import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Driver, HubError, HubLifetimeManager } from '@backplane/core';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import * as signalR from '@microsoft/signalr';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import { Hub, type HubClass, HubServer, type HubServerOptions } from '../src/index.js';

export const quiet = { debug() {}, info() {}, warn() {}, error() {} };
export const WAIT_MS = 5_000;
export const SETTLE_MS = 150;

/** Something a test opens, once. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** What the test hub saw, for assertions (shared by every node in the process). */
export const seen = {
  connected: [] as string[],
  disconnected: [] as Array<{ connectionId: string; error: string | undefined; item: unknown }>,
  marks: [] as string[],
  cancelled: [] as string[],
  gate: gate(),
};

/** The test hub: the routes the `/chat` hub of `backplane serve` has, plus streaming and test hooks. */
export class TestHub extends Hub {
  override onConnected() {
    seen.connected.push(this.context.connectionId);
    this.context.items.set('item', `item of ${this.context.connectionId}`);
  }
  override onDisconnected(error?: Error) {
    seen.disconnected.push({
      connectionId: this.context.connectionId,
      error: error?.message,
      item: this.context.items.get('item'),
    });
  }
  async SendMessage(user: string, message: string) {
    await this.clients.all.send('ReceiveMessage', user, message);
  }
  async JoinGroup(group: string) {
    await this.groups.add(this.context.connectionId, group);
  }
  async LeaveGroup(group: string) {
    await this.groups.remove(this.context.connectionId, group);
  }
  async SendToGroup(group: string, user: string, message: string) {
    await this.clients.group(group).send('ReceiveMessage', user, message);
  }
  async SendToUser(userId: string, user: string, message: string) {
    await this.clients.user(userId).send('ReceiveMessage', user, message);
  }
  async SendToConnection(connectionId: string, user: string, message: string) {
    await this.clients.client(connectionId).send('ReceiveMessage', user, message);
  }
  async SendToOthers(user: string, message: string) {
    await this.clients.others.send('ReceiveMessage', user, message);
  }
  GetConnectionId() {
    return this.context.connectionId;
  }
  GetUser() {
    return this.context.userIdentifier ?? null;
  }
  Echo(value: unknown) {
    return value;
  }
  Fail() {
    throw new Error('secret internals');
  }
  FailForCaller() {
    throw new HubError('You may see this.');
  }
  GetItem() {
    return this.context.items.get('item');
  }
  async WaitForGate() {
    await seen.gate.promise;
    seen.marks.push('gate passed');
  }
  Mark(label: string) {
    seen.marks.push(label);
    return label;
  }
  async AskCaller(question: string) {
    return this.clients.caller.invoke('Ask', [question], { signal: AbortSignal.timeout(WAIT_MS) });
  }
  async *Forever(id: string, signal: AbortSignal) {
    try {
      yield 'first';
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    } finally {
      seen.cancelled.push(id);
    }
  }
  async *BrokenStream() {
    yield 1;
    throw new Error('stream internals');
  }
  _Hidden() {
    return 'never callable';
  }
  async AskClient(connectionId: string, question: string) {
    return this.clients
      .client(connectionId)
      .invoke('Ask', [question], { signal: AbortSignal.timeout(WAIT_MS) });
  }
  async *Counter(count: number, signal: AbortSignal) {
    for (let i = 0; i < count && !signal.aborted; i++) yield i;
  }
}

export interface Node {
  url: string;
  server: Server;
  hubs: HubServer;
  manager: HubLifetimeManager;
}

export async function startNode(
  driver: Driver,
  nodeId: string,
  options: HubServerOptions = {},
  hubClass: HubClass = TestHub,
): Promise<Node> {
  const manager = new HubLifetimeManager({ driver, nodeId, hub: 'chat', logger: quiet });
  await manager.start();
  const server = createServer();
  const hubs = new HubServer({
    tokenSecret: 'shared-test-secret',
    userIdQueryParameter: 'user',
    logger: quiet,
    ...options,
  })
    .mapHub('/chat', hubClass, manager)
    .attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, hubs, manager };
}

export async function stopNode(node: Node): Promise<void> {
  await node.hubs.close();
  node.server.closeAllConnections();
  await new Promise((resolve) => node.server.close(resolve));
  await node.manager.close();
}

export async function startMemoryNodes(count: number, options: HubServerOptions = {}): Promise<Node[]> {
  const bus = new MemoryBus();
  return Promise.all(
    Array.from({ length: count }, (_, i) => startNode(new MemoryDriver({ bus }), `n${i + 1}`, options)),
  );
}

export type TransportName = 'WebSockets' | 'ServerSentEvents' | 'LongPolling';
export type ProtocolName = 'json' | 'messagepack';

export interface ClientOptions {
  transport: TransportName;
  protocol: ProtocolName;
  user?: string;
  skipNegotiation?: boolean;
  accessToken?: string;
  /** Extra builder configuration (automatic reconnect, stateful reconnect, ...). */
  configure?: (builder: signalR.HubConnectionBuilder) => signalR.HubConnectionBuilder;
}

/** An official @microsoft/signalr client, started. */
export async function connectClient(baseUrl: string, options: ClientOptions): Promise<signalR.HubConnection> {
  const query = options.user ? `?user=${encodeURIComponent(options.user)}` : '';
  let builder = new signalR.HubConnectionBuilder()
    .withUrl(`${baseUrl}/chat${query}`, {
      transport: signalR.HttpTransportType[options.transport],
      skipNegotiation: options.skipNegotiation ?? false,
      ...(options.accessToken && { accessTokenFactory: () => options.accessToken! }),
    })
    .configureLogging(signalR.LogLevel.None);
  if (options.protocol === 'messagepack') builder = builder.withHubProtocol(new MessagePackHubProtocol());
  if (options.configure) builder = options.configure(builder);
  const connection = builder.build();
  await connection.start();
  return connection;
}

/** Resolves with the arguments of the next call of `method` on the client. */
export function nextCall(
  connection: signalR.HubConnection,
  method: string,
  timeoutMs = WAIT_MS,
): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      connection.off(method, handler);
      reject(new Error(`no ${method} within ${timeoutMs} ms`));
    }, timeoutMs);
    const handler = (...args: unknown[]) => {
      clearTimeout(timer);
      connection.off(method, handler);
      resolve(args);
    };
    connection.on(method, handler);
  });
}

/** Fails if `method` is called on the client within the settle time. */
export async function expectNoCall(
  connection: signalR.HubConnection,
  method: string,
  settleMs = SETTLE_MS,
): Promise<void> {
  const calls: unknown[][] = [];
  const handler = (...args: unknown[]) => calls.push(args);
  connection.on(method, handler);
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  connection.off(method, handler);
  if (calls.length) throw new Error(`unexpected ${method}(${JSON.stringify(calls[0])})`);
}

/**
 * A TCP load balancer without affinity: the first TCP connection goes to `first`, every later one to
 * `rest`. The official client's negotiate and its WebSocket then land on different nodes.
 */
export async function startSplitBalancer(
  first: Node,
  rest: Node,
): Promise<{ url: string; close(): Promise<void> }> {
  const { createServer: createTcpServer, connect } = await import('node:net');
  let count = 0;
  const sockets = new Set<import('node:net').Socket>();
  const server = createTcpServer((inbound) => {
    const target = new URL((count++ === 0 ? first : rest).url);
    const outbound = connect(Number(target.port), target.hostname);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
