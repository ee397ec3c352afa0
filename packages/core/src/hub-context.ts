import { Channels } from './channels.js';
import { createEpoch, createNodeId } from './ids.js';
import { defaultProtocols } from './protocol/default-protocols.js';
import type { HubProtocol } from './protocol/hub-protocol.js';
import { Publisher } from './publisher.js';
import { type BackplaneStats, createStats } from './stats.js';
import type { Transport } from './transport.js';
import {
  DEFAULT_MAX_GROUP_NAME_LENGTH,
  DEFAULT_MAX_USER_ID_LENGTH,
  limitOption,
  requireGroupName,
  requireName,
  requireNodeId,
  requireUserId,
} from './validate.js';

export interface HubContextOptions {
  /** The driver; connected by `start()`, closed by `close()`. */
  transport: Transport;
  /** Must match the hub servers' hub name (non-empty, no ':'). @default 'hub' */
  hub?: string;
  /** Must match the hub servers' prefix (one segment ending with ':', no other ':'). @default 'backplane:' */
  prefix?: string;
  /** Shown as the sender in logs; at most 247 characters. @default a random `node-xxxxxxxx` */
  nodeId?: string;
  /** Must cover every protocol the hub servers' clients use. @default [JSON, MessagePack] */
  protocols?: readonly HubProtocol[];
  /**
   * The longest group name a send accepts, in UTF-16 code units; longer ones are refused with
   * `LimitExceededError` before anything is published. Match the hub servers' setting.
   * @default 256
   */
  maxGroupNameLength?: number;
  /**
   * The longest user id a send accepts, in UTF-16 code units (`LimitExceededError` otherwise).
   * @default 256
   */
  maxUserIdLength?: number;
}

/**
 * Publishes to a hub's clients from a process that holds no connections (an API worker, a cron job):
 * SignalR's `IHubContext`, socket.io's emitter. It subscribes to nothing.
 */
export class HubContext {
  readonly nodeId: string;
  readonly serverId: string;
  readonly epoch: string;
  readonly #transport: Transport;
  readonly #publisher: Publisher;
  readonly #stats: BackplaneStats = createStats();
  readonly #maxGroupNameLength: number;
  readonly #maxUserIdLength: number;
  #started: Promise<void> | undefined;

  constructor(options: HubContextOptions) {
    this.#transport = options.transport;
    this.nodeId = requireNodeId(options.nodeId ?? createNodeId());
    this.epoch = createEpoch();
    this.serverId = `${this.nodeId}-${this.epoch.slice(0, 8)}`;
    const channels = new Channels(options.prefix ?? 'backplane:', options.hub ?? 'hub');
    this.#maxGroupNameLength = limitOption(
      options.maxGroupNameLength,
      'maxGroupNameLength',
      DEFAULT_MAX_GROUP_NAME_LENGTH,
    );
    this.#maxUserIdLength = limitOption(
      options.maxUserIdLength,
      'maxUserIdLength',
      DEFAULT_MAX_USER_ID_LENGTH,
    );
    this.#publisher = new Publisher(
      this.#transport,
      channels,
      this,
      options.protocols ?? defaultProtocols(),
      this.#stats,
    );
  }

  get stats(): Readonly<BackplaneStats> {
    return { ...this.#stats };
  }

  /** Connects the transport. Idempotent; sends call it too. */
  start(): Promise<void> {
    this.#started ??= this.#transport.connect();
    return this.#started;
  }

  async sendAll(method: string, args: readonly unknown[]): Promise<void> {
    await this.start();
    await this.#publisher.all(this.#publisher.serialize(method, args));
  }

  async sendAllExcept(
    method: string,
    args: readonly unknown[],
    excludedConnectionIds: readonly string[],
  ): Promise<void> {
    await this.start();
    await this.#publisher.all(this.#publisher.serialize(method, args), excludedConnectionIds);
  }

  sendConnection(connectionId: string, method: string, args: readonly unknown[]): Promise<void> {
    return this.sendConnections([connectionId], method, args);
  }

  async sendConnections(
    connectionIds: readonly string[],
    method: string,
    args: readonly unknown[],
  ): Promise<void> {
    for (const id of connectionIds) requireName(id, 'Connection id');
    await this.start();
    await this.#publisher.connections(connectionIds, this.#publisher.serialize(method, args));
  }

  sendGroup(groupName: string, method: string, args: readonly unknown[]): Promise<void> {
    return this.sendGroupExcept(groupName, method, args, []);
  }

  async sendGroupExcept(
    groupName: string,
    method: string,
    args: readonly unknown[],
    excludedConnectionIds: readonly string[],
  ): Promise<void> {
    requireGroupName(groupName, this.#maxGroupNameLength);
    await this.start();
    await this.#publisher.group(groupName, this.#publisher.serialize(method, args), excludedConnectionIds);
  }

  async sendGroups(groupNames: readonly string[], method: string, args: readonly unknown[]): Promise<void> {
    for (const name of groupNames) requireGroupName(name, this.#maxGroupNameLength);
    if (groupNames.length === 0) return;
    await this.start();
    await this.#publisher.groups(groupNames, this.#publisher.serialize(method, args));
  }

  sendUser(userId: string, method: string, args: readonly unknown[]): Promise<void> {
    return this.sendUsers([userId], method, args);
  }

  async sendUsers(userIds: readonly string[], method: string, args: readonly unknown[]): Promise<void> {
    for (const id of userIds) requireUserId(id, this.#maxUserIdLength);
    await this.start();
    await this.#publisher.users(userIds, this.#publisher.serialize(method, args));
  }

  close(): Promise<void> {
    return this.#transport.close();
  }
}
