import type { AckTracker } from './ack-tracker.js';
import type { Channels } from './channels.js';
import type { AckBody, Envelope, GroupAction, GroupCommandBody } from './envelope.js';
import { LimitExceededError } from './errors.js';
import { ownerOfConnection } from './ids.js';
import type { LocalConnections } from './local-connections.js';
import type { Logger } from './logger.js';
import type { GroupOptions } from './manager-options.js';
import type { Publisher } from './publisher.js';
import type { BackplaneStats } from './stats.js';
import { abortable, requireGroupName, requireName } from './validate.js';

export interface GroupCommandsOptions {
  readonly channels: Channels;
  readonly connections: LocalConnections;
  readonly publisher: Pick<Publisher, 'publish'>;
  /** Pending acks of the commands this server sent. */
  readonly acks: AckTracker;
  readonly stats: BackplaneStats;
  readonly log: Logger;
  /** See `HubLifetimeManagerOptions.ackTimeout`, in ms. */
  readonly ackTimeout: number;
  /** See `HubLifetimeManagerOptions.maxGroupNameLength`. */
  readonly maxGroupNameLength: number;
  /** Whether a connection of another server is known to exist nowhere (see `Presence.isConnectionGone`). */
  readonly isConnectionGone: (connectionId: string) => boolean;
  /** Starts the manager if it is not ready yet (`undefined` when it is). */
  readonly ensureStarted: () => Promise<void> | undefined;
}

/**
 * Group membership across servers: a connection of this server joins or leaves at once; one of another
 * server through a group command to its owner, which acks once its subscription is live (or refuses
 * over one of its limits).
 */
export class GroupCommands {
  readonly #options: GroupCommandsOptions;

  constructor(options: GroupCommandsOptions) {
    this.#options = options;
  }

  /** Adds a connection of any server to a group, or removes it (see `HubLifetimeManager.addToGroup`). */
  async run(
    action: GroupAction,
    connectionId: string,
    group: string,
    options: GroupOptions | undefined,
  ): Promise<void> {
    const { channels, connections, publisher, acks, stats } = this.#options;
    requireName(connectionId, 'Connection id');
    requireGroupName(group, this.#options.maxGroupNameLength);
    const starting = this.#options.ensureStarted();
    if (starting) await starting;
    const local = connections.get(connectionId);
    if (local) return connections.applyGroupAction(local, action, group);
    const owner = ownerOfConnection(connectionId);
    if (owner === undefined || this.#options.isConnectionGone(connectionId)) return; // it exists nowhere
    const ack = acks.create(
      this.#options.ackTimeout,
      () =>
        `${action === 'add' ? 'Adding' : 'Removing'} connection '${connectionId}' ${action === 'add' ? 'to' : 'from'} group '${group}'`,
      () => stats.ackTimeouts++,
    );
    const command: GroupCommandBody = { kind: 'group-command', id: ack.id, action, group, connectionId };
    try {
      const receivers = await publisher.publish(channels.server(owner), command);
      if (receivers === 0) acks.forget(ack.id); // its server is gone: the connection exists nowhere
    } catch (error) {
      acks.forget(ack.id);
      throw error;
    }
    await abortable(ack.done, options?.signal);
  }

  /** A group command from another server for a connection of this one: apply it and ack. */
  async receive(command: Envelope & GroupCommandBody): Promise<void> {
    const { connections, log } = this.#options;
    const local = connections.get(command.connectionId);
    let refused: AckBody['refused'];
    try {
      // This server's limits hold whoever asks: a caller may be configured differently, or forged.
      if (local) {
        requireGroupName(command.group, this.#options.maxGroupNameLength);
        await connections.applyGroupAction(local, command.action, command.group);
      }
    } catch (error) {
      if (error instanceof LimitExceededError) {
        refused = { limit: error.limit, max: error.max };
        log.warn('Refused a group command over a limit', {
          connectionId: command.connectionId,
          origin: command.origin,
          limit: error.limit,
        });
      } else {
        log.error('Group command failed', {
          group: command.group,
          connectionId: command.connectionId,
          error,
        });
        return; // no ack: the caller times out rather than believing a subscription is live
      }
    }
    const ack: AckBody = refused ? { kind: 'ack', id: command.id, refused } : { kind: 'ack', id: command.id };
    try {
      await this.#options.publisher.publish(this.#options.channels.server(command.origin), ack);
    } catch (error) {
      log.warn('Could not acknowledge a group command', { origin: command.origin, error });
    }
  }

  /** The owner's answer to a group command this server sent. */
  receiveAck(ack: AckBody): void {
    if (ack.refused) {
      const { limit, max } = ack.refused;
      this.#options.acks.refuse(
        ack.id,
        (command) =>
          new LimitExceededError(
            limit,
            max,
            `${command} was refused by the connection's server: its ${limit} is ${max}.`,
          ),
      );
    } else this.#options.acks.resolve(ack.id);
  }
}
