import type { HubLifetimeManager, InvokeOptions } from '@backplane/core';

/** Sends a method invocation to one or more clients. */
export interface ClientProxy {
  send(method: string, ...args: unknown[]): Promise<void>;
}

/** One client: can also be asked for a result (SignalR client results), across servers. */
export interface SingleClientProxy extends ClientProxy {
  /** Invokes `method` on the client and resolves with what it returns. Pass `signal` to give up. */
  invoke<T = unknown>(method: string, args: unknown[], options?: InvokeOptions<T>): Promise<T>;
}

/** Every way to address clients of a hub, from anywhere (a hub method or an HTTP handler). */
export interface HubClients {
  readonly all: ClientProxy;
  allExcept(connectionIds: readonly string[]): ClientProxy;
  client(connectionId: string): SingleClientProxy;
  clients(connectionIds: readonly string[]): ClientProxy;
  group(groupName: string): ClientProxy;
  groups(groupNames: readonly string[]): ClientProxy;
  groupExcept(groupName: string, excludedConnectionIds: readonly string[]): ClientProxy;
  user(userId: string): ClientProxy;
  users(userIds: readonly string[]): ClientProxy;
}

/** Inside a hub method: also the caller, everyone else, and everyone else in a group. */
export interface HubCallerClients extends HubClients {
  readonly caller: SingleClientProxy;
  readonly others: ClientProxy;
  othersInGroup(groupName: string): ClientProxy;
}

/**
 * A hub's clients and group membership from outside a hub method (an HTTP handler, a job): SignalR's
 * `IHubContext`. `groupManager` is its `Groups`.
 */
export interface HubContextClients extends HubClients {
  readonly groupManager: GroupManager;
}

/** Group membership of any connection, on any server. */
export interface GroupManager {
  add(connectionId: string, groupName: string): Promise<void>;
  remove(connectionId: string, groupName: string): Promise<void>;
}

const proxy = (send: (method: string, args: unknown[]) => Promise<void>): ClientProxy => ({
  send: (method, ...args) => send(method, args),
});

export function hubClients(manager: HubLifetimeManager): HubClients {
  const single = (id: string): SingleClientProxy => ({
    send: (method, ...args) => manager.sendConnection(id, method, args),
    invoke: (method, args, options) => manager.invokeConnection(id, method, args, options),
  });
  return {
    all: proxy((m, a) => manager.sendAll(m, a)),
    allExcept: (ids) => proxy((m, a) => manager.sendAllExcept(m, a, ids)),
    client: single,
    clients: (ids) => proxy((m, a) => manager.sendConnections(ids, m, a)),
    group: (name) => proxy((m, a) => manager.sendGroup(name, m, a)),
    groups: (names) => proxy((m, a) => manager.sendGroups(names, m, a)),
    groupExcept: (name, ids) => proxy((m, a) => manager.sendGroupExcept(name, m, a, ids)),
    user: (id) => proxy((m, a) => manager.sendUser(id, m, a)),
    users: (ids) => proxy((m, a) => manager.sendUsers(ids, m, a)),
  };
}

export function hubCallerClients(manager: HubLifetimeManager, callerId: string): HubCallerClients {
  const clients = hubClients(manager);
  return {
    ...clients,
    caller: clients.client(callerId),
    others: clients.allExcept([callerId]),
    othersInGroup: (name) => clients.groupExcept(name, [callerId]),
  };
}

export function groupManager(manager: HubLifetimeManager): GroupManager {
  return {
    add: (connectionId, groupName) => manager.addToGroup(connectionId, groupName),
    remove: (connectionId, groupName) => manager.removeFromGroup(connectionId, groupName),
  };
}
