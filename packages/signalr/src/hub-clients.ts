import type { HubLifetimeManager, HubPresence, InvokeOptions } from '@backplane/core';

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
 * `IHubContext`. `groupManager` is its `Groups`; `presence` says who is online.
 */
export interface HubContextClients extends HubClients {
  readonly groupManager: GroupManager;
  /** Who is online on every node of the hub (the lifetime manager's `presence`). */
  readonly presence: HubPresence;
}

/** Group membership of any connection, on any server. */
export interface GroupManager {
  add(connectionId: string, groupName: string): Promise<void>;
  remove(connectionId: string, groupName: string): Promise<void>;
}

type Send = (method: string, args: unknown[]) => Promise<void>;

class SendProxy implements ClientProxy {
  readonly #send: Send;
  constructor(send: Send) {
    this.#send = send;
  }
  send(method: string, ...args: unknown[]): Promise<void> {
    return this.#send(method, args);
  }
}

class SingleProxy implements SingleClientProxy {
  constructor(
    readonly manager: HubLifetimeManager,
    readonly connectionId: string,
  ) {}
  send(method: string, ...args: unknown[]): Promise<void> {
    return this.manager.sendConnection(this.connectionId, method, args);
  }
  invoke<T = unknown>(method: string, args: unknown[], options?: InvokeOptions<T>): Promise<T> {
    return this.manager.invokeConnection(this.connectionId, method, args, options);
  }
}

// Classes with their members on the prototype: a hub instance is made per invocation, and its `clients`
// then costs one small object; a proxy is made only when the method asks for it.
class ManagerClients implements HubClients {
  constructor(readonly manager: HubLifetimeManager) {}
  get all(): ClientProxy {
    const m = this.manager;
    return new SendProxy((method, args) => m.sendAll(method, args));
  }
  allExcept(connectionIds: readonly string[]): ClientProxy {
    const m = this.manager;
    return new SendProxy((method, args) => m.sendAllExcept(method, args, connectionIds));
  }
  client(connectionId: string): SingleClientProxy {
    return new SingleProxy(this.manager, connectionId);
  }
  clients(connectionIds: readonly string[]): ClientProxy {
    const m = this.manager;
    return new SendProxy((method, args) => m.sendConnections(connectionIds, method, args));
  }
  group(groupName: string): ClientProxy {
    const m = this.manager;
    return new SendProxy((method, args) => m.sendGroup(groupName, method, args));
  }
  groups(groupNames: readonly string[]): ClientProxy {
    const m = this.manager;
    return new SendProxy((method, args) => m.sendGroups(groupNames, method, args));
  }
  groupExcept(groupName: string, excludedConnectionIds: readonly string[]): ClientProxy {
    const m = this.manager;
    return new SendProxy((method, args) => m.sendGroupExcept(groupName, method, args, excludedConnectionIds));
  }
  user(userId: string): ClientProxy {
    const m = this.manager;
    return new SendProxy((method, args) => m.sendUser(userId, method, args));
  }
  users(userIds: readonly string[]): ClientProxy {
    const m = this.manager;
    return new SendProxy((method, args) => m.sendUsers(userIds, method, args));
  }
}

class CallerClients extends ManagerClients implements HubCallerClients {
  constructor(
    manager: HubLifetimeManager,
    readonly callerId: string,
  ) {
    super(manager);
  }
  get caller(): SingleClientProxy {
    return this.client(this.callerId);
  }
  get others(): ClientProxy {
    return this.allExcept([this.callerId]);
  }
  othersInGroup(groupName: string): ClientProxy {
    return this.groupExcept(groupName, [this.callerId]);
  }
}

class ManagerGroups implements GroupManager {
  constructor(readonly manager: HubLifetimeManager) {}
  add(connectionId: string, groupName: string): Promise<void> {
    return this.manager.addToGroup(connectionId, groupName);
  }
  remove(connectionId: string, groupName: string): Promise<void> {
    return this.manager.removeFromGroup(connectionId, groupName);
  }
}

export function hubCallerClients(manager: HubLifetimeManager, callerId: string): HubCallerClients {
  return new CallerClients(manager, callerId);
}

export function groupManager(manager: HubLifetimeManager): GroupManager {
  return new ManagerGroups(manager);
}

class ContextClients extends ManagerClients implements HubContextClients {
  readonly groupManager: GroupManager = new ManagerGroups(this.manager);
  get presence(): HubPresence {
    return this.manager.presence;
  }
}

/** The hub context's clients: every way to address clients, and group membership. */
export function hubContextClients(manager: HubLifetimeManager): HubContextClients {
  return new ContextClients(manager);
}
