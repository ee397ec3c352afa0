import type { Channels } from './channels.js';
import type { GroupAction } from './envelope.js';
import { DuplicateConnectionError, LimitExceededError } from './errors.js';
import type { DeliverySource, LocalConnection } from './local-connection.js';
import type { Logger } from './logger.js';
import type { Payloads } from './publisher.js';
import type { BackplaneStats } from './stats.js';
import type { SubscriptionRegistry } from './subscription-registry.js';

export interface ConnectionEntry {
  readonly connection: LocalConnection;
  /** The groups it is in; made on the first join (most connections join none). */
  groups: Set<string> | undefined;
  readonly userChannel: string | undefined;
  /** An adopted session's first server's inbox, followed for sends addressed to it by id. */
  inbox: string | undefined;
}

export interface LocalConnectionsOptions {
  readonly channels: Channels;
  /** The group and user channel subscriptions, one member per local connection. */
  readonly subscriptions: SubscriptionRegistry;
  readonly stats: BackplaneStats;
  readonly log: Logger;
  /** See `HubLifetimeManagerOptions.maxGroupsPerConnection`. */
  readonly maxGroupsPerConnection: number;
  /** A session was adopted here (see {@link LocalConnections.followInbox}). */
  readonly onAdopted?: () => void;
}

/**
 * This server's connections, their groups and user channels, and delivery to them: the frame of each
 * connection's hub protocol, written at once (never through the broker).
 */
export class LocalConnections {
  readonly #connections = new Map<string, ConnectionEntry>();
  readonly #channels: Channels;
  readonly #subscriptions: SubscriptionRegistry;
  readonly #stats: BackplaneStats;
  readonly #log: Logger;
  readonly #maxGroupsPerConnection: number;
  readonly #onAdopted: (() => void) | undefined;
  /** Connections here whose first server's inbox this server follows for them (adopted sessions). */
  readonly #adopted = new Set<string>();
  /**
   * Durable mode: where the message being delivered now came from (set by the receive path around each
   * dispatch, `undefined` for this server's own sends), handed to each connection with its frame.
   */
  source: DeliverySource | undefined;
  /** Connections being adopted: what is delivered to them meanwhile waits here (see {@link hold}). */
  readonly #held = new Map<string, Array<{ frame: Uint8Array; source: DeliverySource | undefined }>>();

  constructor(options: LocalConnectionsOptions) {
    this.#channels = options.channels;
    this.#subscriptions = options.subscriptions;
    this.#stats = options.stats;
    this.#log = options.log;
    this.#maxGroupsPerConnection = options.maxGroupsPerConnection;
    this.#onAdopted = options.onAdopted;
  }

  /** Number of connections this server holds. */
  get size(): number {
    return this.#connections.size;
  }

  get(connectionId: string): ConnectionEntry | undefined {
    return this.#connections.get(connectionId);
  }

  /**
   * Registers a connection; an id already held by another object is refused with
   * `DuplicateConnectionError`, the same object again is a no-op.
   */
  async add(connection: LocalConnection): Promise<void> {
    const id = connection.connectionId;
    const existing = this.#connections.get(id);
    if (existing) {
      if (existing.connection === connection) return;
      this.#log.warn('Refused a second connection under a connection id already held', { connectionId: id });
      throw new DuplicateConnectionError(id);
    }
    const user = connection.userIdentifier;
    const userChannel = user ? this.#channels.user(user) : undefined;
    this.#connections.set(id, { connection, groups: undefined, userChannel, inbox: undefined });
    if (userChannel) await this.#subscriptions.add(userChannel, id);
  }

  /**
   * Unregisters a connection if `connection` is the object registered under its id, and leaves its group
   * and user channels. Returns the pending unsubscribes, or `undefined` when it was not registered.
   */
  remove(connection: LocalConnection): Promise<void>[] | undefined {
    const id = connection.connectionId;
    const local = this.#connections.get(id);
    if (!local || local.connection !== connection) return undefined;
    this.#connections.delete(id);
    this.#held.delete(id);
    const leaving = [...(local.groups ?? [])].map((group) =>
      this.#subscriptions.remove(this.#channels.group(group), id),
    );
    if (local.userChannel) leaving.push(this.#subscriptions.remove(local.userChannel, id));
    if (local.inbox) {
      leaving.push(this.#subscriptions.remove(local.inbox, id));
      this.#adopted.delete(id);
    }
    return leaving;
  }

  clear(): void {
    this.#connections.clear();
  }

  /** Applies a group command to a local connection; throws `LimitExceededError` on a join too many. */
  applyGroupAction(local: ConnectionEntry, action: GroupAction, group: string): Promise<void> {
    const id = local.connection.connectionId;
    const channel = this.#channels.group(group);
    if (action === 'add') {
      const count = local.groups?.size ?? 0;
      if (count >= this.#maxGroupsPerConnection && !local.groups?.has(group))
        throw new LimitExceededError(
          'maxGroupsPerConnection',
          this.#maxGroupsPerConnection,
          `Connection '${id}' is in ${count} groups, the limit (maxGroupsPerConnection); it must leave one before joining another.`,
        );
      local.groups ??= new Set();
      local.groups.add(group);
      return this.#changed(local, this.#subscriptions.add(channel, id));
    }
    local.groups?.delete(group);
    return this.#changed(local, this.#subscriptions.remove(channel, id));
  }

  /** Tells the connection its groups changed, once the subscription change is done. */
  #changed(local: ConnectionEntry, change: Promise<void>): Promise<void> {
    if (!local.connection.groupsChanged) return change;
    return change.then(() => local.connection.groupsChanged?.());
  }

  /**
   * An adopted session keeps the connection id its first server minted, so sends by id still go to that
   * server's inbox: this server follows it while it holds the connection.
   */
  followInbox(local: ConnectionEntry, owner: string): Promise<void> {
    if (local.inbox) return Promise.resolve();
    const id = local.connection.connectionId;
    local.inbox = this.#channels.server(owner);
    this.#adopted.add(id);
    const following = this.#subscriptions.add(local.inbox, id);
    // Once the inbox is followed, others may learn that the connection lives here.
    return this.#onAdopted ? following.then(this.#onAdopted) : following;
  }

  /** The connections here whose sessions were adopted from another server (ids it minted). */
  adopted(): Iterable<string> {
    return this.#adopted;
  }

  /** Local members of a group or user channel (empty when none). */
  members(channel: string): ReadonlySet<string> {
    return this.#subscriptions.members(channel);
  }

  unionOfGroups(groups: Iterable<string>): Set<string> {
    const members = new Set<string>();
    for (const group of groups)
      for (const id of this.#subscriptions.members(this.#channels.group(group))) members.add(id);
    return members;
  }

  /** Delivers to every connection of this server but the excluded ones. */
  deliverToAll(payloads: Payloads, exclude?: readonly string[]): void {
    // The entries themselves, not their ids: no lookup per connection.
    if (!exclude?.length) {
      for (const local of this.#connections.values()) this.deliver(local.connection, payloads);
      return;
    }
    const excluded = new Set(exclude);
    for (const [id, local] of this.#connections)
      if (!excluded.has(id)) this.deliver(local.connection, payloads);
  }

  /** Delivers to the connections of this server among `ids` (each once); returns the others. */
  deliverToConnections(ids: readonly string[], payloads: Payloads): string[] {
    const remote: string[] = [];
    for (const id of new Set(ids)) {
      const local = this.#connections.get(id);
      if (local) this.deliver(local.connection, payloads);
      else remote.push(id);
    }
    return remote;
  }

  /** Delivers to this server's members of a group but the excluded ones. */
  deliverToGroup(group: string, payloads: Payloads, exclude: readonly string[]): void {
    this.deliverTo(this.#subscriptions.members(this.#channels.group(group)), payloads, exclude);
  }

  /** Delivers to this server's members of several groups, once each. */
  deliverToGroups(groups: readonly string[], payloads: Payloads): void {
    this.deliverTo(this.unionOfGroups(groups), payloads);
  }

  /** Delivers to this server's connections of each user (each user once). */
  deliverToUsers(userIds: readonly string[], payloads: Payloads): void {
    for (const id of new Set(userIds))
      this.deliverTo(this.#subscriptions.members(this.#channels.user(id)), payloads);
  }

  deliverTo(ids: Iterable<string>, payloads: Payloads, exclude?: readonly string[]): void {
    const excluded = exclude?.length ? new Set(exclude) : undefined;
    for (const id of ids) {
      if (excluded?.has(id)) continue;
      const local = this.#connections.get(id);
      if (local) this.deliver(local.connection, payloads);
    }
  }

  deliver(connection: LocalConnection, payloads: Payloads): void {
    const frame = payloads.get(connection.protocol.name);
    if (!frame) {
      this.#stats.protocolMismatches++;
      this.#log.warn(
        'This message was received from another server that did not have the requested protocol available.',
        {
          protocol: connection.protocol.name,
          connectionId: connection.connectionId,
        },
      );
      return;
    }
    this.write(connection, frame);
  }

  write(connection: LocalConnection, frame: Uint8Array): void {
    if (this.#held.size > 0) {
      const held = this.#held.get(connection.connectionId);
      if (held) {
        held.push({ frame, source: this.source });
        return;
      }
    }
    try {
      const pending = connection.write(frame, this.source);
      this.#stats.delivered++;
      if (pending) pending.catch((error: unknown) => this.#writeFailed(connection, error));
    } catch (error) {
      this.#writeFailed(connection, error);
    }
  }

  /**
   * Holds what is delivered to a connection until {@link release}: an adopted session's replay must reach
   * the client before anything that arrives live while it is read.
   */
  hold(connectionId: string): void {
    if (!this.#held.has(connectionId)) this.#held.set(connectionId, []);
  }

  /**
   * Ends a {@link hold}: writes what was held, in order, but the frames `skip` says the replay delivered
   * already (by their source).
   */
  release(connectionId: string, skip: (source: DeliverySource | undefined) => boolean): number {
    const held = this.#held.get(connectionId);
    this.#held.delete(connectionId);
    const local = this.#connections.get(connectionId);
    if (!held || !local) return 0;
    let written = 0;
    const outer = this.source;
    try {
      for (const { frame, source } of held) {
        if (skip(source)) continue;
        this.source = source;
        this.write(local.connection, frame);
        written++;
      }
    } finally {
      this.source = outer;
    }
    return written;
  }

  #writeFailed(connection: LocalConnection, error: unknown): void {
    this.#stats.writeErrors++;
    this.#log.debug('Writing to a connection failed', { connectionId: connection.connectionId, error });
  }
}
