import type { Socket } from 'node:net';
import type { MessageHandler } from '@backplane/core';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import {
  nextEvent,
  overrideDriver,
  type RoundRobinBalancer,
  startRoundRobinBalancer,
  waitFor,
} from '@backplane/testkit';
import * as signalR from '@microsoft/signalr';
import { afterEach, describe, expect, it } from 'vitest';
import { type Node, SETTLE_MS, seen, startNode, stopNode, WAIT_MS } from './two-nodes.js';

/**
 * A memory driver that can be frozen, as the process of its server stops: nothing delivered, published or
 * stored from then on. What the last store write was is kept, so a test knows what another node will find.
 */
function freezable(driver: MemoryDriver) {
  let frozen = false;
  /** Store writes are dropped (the store lags behind what the node sends). */
  let storeStopped = false;
  let lastKey: string | undefined;
  const wrapped = overrideDriver(driver, {
    setMessageHandler: (handler: MessageHandler) =>
      driver.setMessageHandler((channel, payload, position) => {
        if (!frozen) handler(channel, payload, position);
      }),
    publish: (channel: string, payload: Uint8Array) =>
      frozen ? Promise.resolve(undefined) : driver.publish(channel, payload),
    putRecord: (key: string, value: Uint8Array, ttlMs: number) => {
      if (frozen || storeStopped) return Promise.resolve();
      lastKey = key;
      return driver.putRecord(key, value, ttlMs);
    },
    deleteRecord: (key: string) => (frozen ? Promise.resolve() : driver.deleteRecord(key)),
  });
  return {
    driver: wrapped,
    freeze() {
      frozen = true;
    },
    stopStore() {
      storeStopped = true;
    },
    get lastKey() {
      return lastKey;
    },
  };
}

interface Member extends Node {
  freezer: ReturnType<typeof freezable>;
  /** Every TCP socket the node's HTTP server accepted (WebSockets included, once upgraded). */
  sockets: Set<Socket>;
}

/** Two hub servers on one memory bus behind a round-robin balancer (no affinity). */
async function cluster(): Promise<{ members: Member[]; balancer: RoundRobinBalancer }> {
  const bus = new MemoryBus();
  const members = await Promise.all(
    ['a', 'b'].map(async (id) => {
      const freezer = freezable(new MemoryDriver({ bus }));
      const node = await startNode(freezer.driver, `sessions-${id}`);
      const sockets = new Set<Socket>();
      node.server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      return { ...node, freezer, sockets };
    }),
  );
  return { members, balancer: await startRoundRobinBalancer(members.map((m) => m.url)) };
}

/** A stateful-reconnect client through the balancer, with what it receives and its lifecycle events. */
async function statefulClient(url: string) {
  const connection = new signalR.HubConnectionBuilder()
    .withUrl(`${url}/chat?user=ana`, { transport: signalR.HttpTransportType.WebSockets })
    .withStatefulReconnect()
    .configureLogging(signalR.LogLevel.None)
    .build();
  const received: string[] = [];
  const events: string[] = [];
  connection.on('ReceiveMessage', (_user: string, message: string) => received.push(message));
  connection.onclose(() => events.push('close'));
  connection.onreconnecting(() => events.push('reconnecting'));
  await connection.start();
  return { connection, received, events };
}

/**
 * Waits until the holder's last stored record, read from the other node, covers the first `sent` frames it
 * sent the client and names the group 'p'.
 */
async function recordCovers(holder: Member, other: Member, sent: number): Promise<void> {
  const prefix = holder.manager.channels.sessionKey('');
  await waitFor(
    async () => {
      const key = holder.freezer.lastKey;
      const record = key && (await other.manager.sessions.load(key.slice(prefix.length)));
      return record && record.acked + record.pending.length >= sent && record.groups.includes('p');
    },
    { name: "the holder's record to cover what it sent", timeoutMs: WAIT_MS },
  );
}

describe('session adoption', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  });

  async function setUp() {
    const { members, balancer } = await cluster();
    cleanup.push(() => Promise.allSettled(members.map(stopNode)));
    cleanup.push(() => balancer.close());
    const client = await statefulClient(balancer.url);
    cleanup.push(() => client.connection.stop());
    const id = await client.connection.invoke<string>('GetConnectionId');
    await client.connection.invoke('JoinGroup', 'p');
    const holder = members.find((m) => m.manager.connectionCount === 1)!;
    const other = members.find((m) => m !== holder)!;
    expect(holder).toBeDefined();
    expect(other.manager.connectionCount).toBe(0);
    // Messages from the other node reach the client live.
    for (const word of ['m1', 'm2', 'm3'])
      await other.manager.sendGroup('p', 'ReceiveMessage', ['srv', word]);
    await waitFor(() => client.received.length === 3, { name: 'three messages', timeoutMs: WAIT_MS });
    return { members, holder, other, client, id };
  }

  it('session adoption - a node that dies abruptly: the client resumes on the other node with its id and group, no close, no reconnecting, messages continue', async () => {
    const { holder, other, client, id } = await setUp();
    // Everything the client was sent (the two results and three messages) is in the holder's last record:
    // a node that died keeps nothing else.
    await recordCovers(holder, other, 5);

    const adopted = nextEvent(other.manager, 'session-adopted', (e) => e.connectionId === id, WAIT_MS);
    // The holder's process "stops": its broker link goes silent, it accepts nothing, its sockets drop
    // without a Close message or a WebSocket close frame.
    holder.freezer.freeze();
    holder.server.close();
    for (const socket of holder.sockets) socket.destroy();

    expect(await adopted).toMatchObject({ previousHolder: holder.manager.serverId });
    expect(other.manager.connectionCount).toBe(1);
    for (const word of ['m4', 'm5']) await other.manager.sendGroup('p', 'ReceiveMessage', ['srv', word]);
    await waitFor(() => client.received.length === 5, { name: 'two more messages', timeoutMs: WAIT_MS });
    expect(await client.connection.invoke('GetConnectionId')).toBe(id);
    await client.connection.invoke('SendToGroup', 'p', 'ana', 'm6');
    await waitFor(() => client.received.length === 6, { name: 'its own group send', timeoutMs: WAIT_MS });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS)); // a duplicate would arrive now
    expect(client.received).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    expect(client.events).toEqual([]);
    expect(client.connection.state).toBe(signalR.HubConnectionState.Connected);
    expect(seen.connected.filter((c) => c === id)).toHaveLength(1);
  }, 30_000);

  it('session adoption - a node that dies after sending frames its last record does not name: the adopter numbers past them, so every new message and answer reaches the client', async () => {
    const { holder, other, client, id } = await setUp();
    await recordCovers(holder, other, 5);
    // From here the holder's records lag: what it sends now is in no record (nor in any log).
    holder.freezer.stopStore();
    for (const word of ['m4', 'm5']) await other.manager.sendGroup('p', 'ReceiveMessage', ['srv', word]);
    await waitFor(() => client.received.length === 5, {
      name: 'two unrecorded messages',
      timeoutMs: WAIT_MS,
    });
    expect(await client.connection.invoke('GetConnectionId')).toBe(id);

    const adopted = nextEvent(other.manager, 'session-adopted', (e) => e.connectionId === id, WAIT_MS);
    holder.freezer.freeze();
    holder.server.close();
    for (const socket of holder.sockets) socket.destroy();
    expect(await adopted).toMatchObject({ complete: false });
    // Without the bound, the adopter's next frames would reuse the ids of m4, m5 and the last answer, and the
    // client would drop them as repeats: m6 lost, the invocation below never answered.
    await other.manager.sendGroup('p', 'ReceiveMessage', ['srv', 'm6']);
    await waitFor(() => client.received.length === 6, { name: 'a new message', timeoutMs: WAIT_MS });
    expect(await client.connection.invoke('GetConnectionId')).toBe(id);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS)); // a duplicate would arrive now
    expect(client.received).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    expect(client.events).toEqual([]);
  }, 30_000);

  it('session adoption - a draining node hands its session off: the hub runs no onDisconnected for it, the client goes on elsewhere with its id and group', async () => {
    const { holder, other, client, id } = await setUp();
    const adopted = nextEvent(other.manager, 'session-adopted', (e) => e.connectionId === id, WAIT_MS);
    // Drain as `backplane serve` does on SIGTERM: stop accepting first, then close the hub server.
    holder.server.close();
    await holder.hubs.close();
    expect(await adopted).toMatchObject({ previousHolder: holder.manager.serverId });

    for (const word of ['m4', 'm5']) await other.manager.sendGroup('p', 'ReceiveMessage', ['srv', word]);
    await waitFor(() => client.received.length === 5, { name: 'two more messages', timeoutMs: WAIT_MS });
    expect(await client.connection.invoke('GetConnectionId')).toBe(id);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(client.received).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    expect(client.events).toEqual([]);
    expect(seen.connected.filter((c) => c === id)).toHaveLength(1);
    expect(seen.disconnected.filter((d) => d.connectionId === id)).toEqual([]);
    expect(holder.manager.connectionCount).toBe(0);
  }, 30_000);
});
