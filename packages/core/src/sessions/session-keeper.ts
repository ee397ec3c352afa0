import type { Channels } from '../channels.js';
import {
  type Driver,
  isSessionStoreDriver,
  type LogPosition,
  MAX_RECORD_BYTES,
  MAX_RECORD_KEY_LENGTH,
  type SessionStoreDriver,
} from '../driver.js';
import { BrokerError, InvalidArgumentError, SessionError } from '../errors.js';
import { ownerOfConnection } from '../ids.js';
import type { DeliverySource, LocalConnection } from '../local-connection.js';
import type { LocalConnections } from '../local-connections.js';
import type { Logger } from '../logger.js';
import type { BackplaneEvent } from '../resilience/events.js';
import type { DurableReplay } from '../resilience/replay.js';
import type { BackplaneStats } from '../stats.js';
import {
  decodeSessionRecord,
  encodeSessionRecord,
  type PendingFrames,
  type SessionRecord,
} from './session-record.js';
import { entryKey, SessionReplay } from './session-replay.js';

/** A frame sent to the client and not acknowledged yet, with where it came from (durable mode). */
export interface UnackedFrame {
  readonly frame: Uint8Array;
  readonly source: DeliverySource | undefined;
}

/** What the hub server knows of a session that core does not: its protocol and its sequence state. */
export interface SessionCheckpoint {
  /** The hub protocol the client speaks. */
  readonly protocol: string;
  /** The last server-to-client sequence id the client acknowledged. */
  readonly acked: number;
  /** The client-to-server messages handled. */
  readonly received: number;
  /** The frames sent after `acked`, in order. */
  readonly unacked: readonly UnackedFrame[];
  /** The holder gives the session up (drain): it sends the client nothing more. @default false */
  readonly final?: boolean;
  /** Frames the client never acknowledged were dropped (the resend buffer overflowed). @default false */
  readonly overflowed?: boolean;
  /**
   * The highest sequence id the holder may send before its next record (see `SessionRecord.bound`).
   * @default `acked` plus the unacknowledged frames
   */
  readonly bound?: number;
}

/** A session taken over by this server (see {@link SessionKeeper.adopt}). */
export interface Adoption {
  /** What to send the client, in order, as sequence ids `record.acked + 1` on. */
  readonly frames: readonly Uint8Array[];
  /** Whether nothing the session was sent can be missing (see the `session-adopted` event). */
  readonly complete: boolean;
  /**
   * Call once the frames are sent: what was delivered to the connection while its replay was read follows
   * (copies of replayed log entries dropped), and delivery is direct from then on.
   */
  release(): void;
}

/** What the session keeper needs from the manager. */
export interface SessionKeeperOptions {
  readonly driver: Driver;
  readonly serverId: string;
  readonly channels: Channels;
  readonly connections: LocalConnections;
  /** Durable mode only: log positions per channel, and the driver's log. */
  readonly replay: DurableReplay | undefined;
  /** How long a record outlives its last save, ms. */
  readonly ttl: number;
  readonly stats: BackplaneStats;
  readonly log: Logger;
  readonly emit: (event: BackplaneEvent) => void;
  /** Starts the manager if it is not started yet (adopting registers a connection). */
  readonly ensureStarted: () => Promise<void> | undefined;
}

/**
 * Records are filed under a session key: what the client presents again when it comes back (the hub server
 * uses its connection token's signature), so no server needs to know where the session was.
 *
 * Client sessions that outlive their server: the holder saves each stateful session's record (groups,
 * sequence state, unacknowledged frames, log positions) in the driver's session store; a server the
 * client reconnects to after its server died or drained loads the record and adopts the session: same
 * connection id, its groups, and what it may have missed (the unacknowledged frames, and in durable mode
 * what its channels' logs hold for it since), then live delivery. `manager.sessions`.
 */
export class SessionKeeper {
  readonly #options: SessionKeeperOptions;
  readonly #store: SessionStoreDriver | undefined;

  constructor(options: SessionKeeperOptions) {
    this.#options = options;
    this.#store = isSessionStoreDriver(options.driver) ? options.driver : undefined;
  }

  /** Whether sessions can be kept: the driver has a session store. */
  get available(): boolean {
    return this.#store !== undefined;
  }

  /** Whether `record` was written by this server (it holds the session, or did last). */
  holds(record: SessionRecord): boolean {
    return record.holder === this.#options.serverId;
  }

  /** How long a record outlives its last save, ms (`sessionTtl`). */
  get ttl(): number {
    return this.#options.ttl;
  }

  /**
   * Writes the record of a connection this server holds. Rejects with `BrokerError` when the store fails,
   * `SessionError('overflowed')` when the record would exceed the store's bound (its unacknowledged frames:
   * the session then cannot be adopted until the client acknowledges them).
   */
  async save(key: string, connectionId: string, checkpoint: SessionCheckpoint): Promise<void> {
    const store = this.#requireStore();
    const { connections, serverId, stats } = this.#options;
    const local = connections.get(connectionId);
    if (!local) return;
    const record: SessionRecord = {
      connectionId,
      userId: local.connection.userIdentifier || undefined,
      protocol: checkpoint.protocol,
      holder: serverId,
      groups: [...(local.groups ?? [])],
      acked: checkpoint.acked,
      received: checkpoint.received,
      pending: this.#pending(checkpoint.unacked),
      positions: this.#positions(
        this.#channelsOf(connectionId, local.groups, local.connection.userIdentifier),
      ),
      savedAt: Date.now(),
      final: checkpoint.final ?? false,
      overflowed: checkpoint.overflowed ?? false,
      bound: Math.max(checkpoint.bound ?? 0, checkpoint.acked + checkpoint.unacked.length),
    };
    const bytes = encodeSessionRecord(record);
    if (bytes.byteLength > MAX_RECORD_BYTES)
      throw new SessionError(
        'overflowed',
        `The session record of '${connectionId}' would be ${bytes.byteLength} bytes, over the store's ${MAX_RECORD_BYTES}.`,
      );
    try {
      await store.putRecord(this.#storeKey(key), bytes, this.#options.ttl);
      stats.sessionsSaved++;
    } catch (error) {
      stats.sessionStoreFailures++;
      throw error instanceof BrokerError
        ? error
        : new BrokerError('Saving a session record failed.', { cause: error });
    }
  }

  /**
   * The record of a session, or `undefined` when there is none (never kept, ended, or expired). Rejects
   * with `BrokerError` when the store fails, `SessionError('malformed')` for a record it cannot read.
   */
  async load(key: string): Promise<SessionRecord | undefined> {
    const store = this.#requireStore();
    let bytes: Uint8Array | undefined;
    try {
      bytes = await store.getRecord(this.#storeKey(key));
    } catch (error) {
      this.#options.stats.sessionStoreFailures++;
      throw error instanceof BrokerError
        ? error
        : new BrokerError('Reading a session record failed.', { cause: error });
    }
    if (!bytes) return undefined;
    if (bytes.byteLength > MAX_RECORD_BYTES)
      throw new SessionError('malformed', `A session record of ${bytes.byteLength} bytes is over the bound.`);
    return decodeSessionRecord(bytes);
  }

  /** The session ended for good (the client left, or never came back): its record goes. Never rejects. */
  async end(key: string): Promise<void> {
    const store = this.#store;
    if (!store) return;
    try {
      await store.deleteRecord(this.#storeKey(key));
    } catch (error) {
      this.#options.stats.sessionStoreFailures++;
      this.#options.log.warn('Could not delete a session record', { error });
    }
  }

  /**
   * Takes over a session whose record was loaded: registers `connection` (which carries the record's
   * connection id and user) with the record's groups, follows its first server's inbox, and gathers what
   * the client may lack. Live deliveries to it wait until {@link Adoption.release}. Rejects (leaving
   * nothing registered) when a group cannot be joined or a log cannot be read.
   */
  async adopt(connection: LocalConnection, record: SessionRecord): Promise<Adoption> {
    const { channels, connections, serverId, stats, replay } = this.#options;
    const id = connection.connectionId;
    if (record.overflowed)
      throw new SessionError(
        'overflowed',
        `The session '${record.connectionId}' lost frames its client never acknowledged; it cannot be resumed.`,
      );
    if (id !== record.connectionId || (connection.userIdentifier || undefined) !== record.userId)
      throw new SessionError(
        'mismatch',
        `The session record of '${record.connectionId}' is not this connection's.`,
      );
    const starting = this.#options.ensureStarted();
    if (starting) await starting;
    connections.hold(id);
    try {
      await connections.add(connection);
      const local = connections.get(id)!;
      const joins = record.groups.map((group) => connections.applyGroupAction(local, 'add', group));
      const owner = ownerOfConnection(id);
      if (owner !== undefined && owner !== serverId) joins.push(connections.followInbox(local, owner));
      await Promise.all(joins);
      let frames: Uint8Array[];
      let delivered: ReadonlySet<string> = new Set();
      let reason: string | undefined;
      if (replay) {
        const session = new SessionReplay(replay.driver, channels, {
          connectionId: id,
          protocol: record.protocol,
          userId: record.userId,
          groups: new Set(record.groups),
        });
        const result = await session.run(
          record.pending,
          record.positions,
          this.#channelsOf(id, record.groups, record.userId),
        );
        frames = result.frames;
        delivered = result.delivered;
        reason = result.incomplete;
      } else {
        frames = record.pending.filter((f): f is Uint8Array => f instanceof Uint8Array);
        // Without a log, what was published to the session between its last record and now is gone.
        reason =
          frames.length < record.pending.length
            ? 'frames in a durable log, and this server has none'
            : 'no durable log: what was sent to the session since its last record is lost';
      }
      stats.sessionsAdopted++;
      this.#options.emit({
        type: 'session-adopted',
        connectionId: id,
        previousHolder: record.holder,
        replayed: frames.length,
        complete: reason === undefined,
        since: record.savedAt,
        ...(reason !== undefined && { reason }),
      });
      this.#options.log.info('Adopted a session', {
        connectionId: id,
        from: record.holder,
        replayed: frames.length,
        ...(reason !== undefined && { incomplete: reason }),
      });
      return {
        frames,
        complete: reason === undefined,
        release: () => {
          connections.release(
            id,
            (source) =>
              source?.position !== undefined && delivered.has(entryKey(source.channel, source.position)),
          );
        },
      };
    } catch (error) {
      connections.release(id, () => true);
      const leaving = connections.remove(connection);
      if (leaving) await Promise.allSettled(leaving);
      throw error;
    }
  }

  /** The channels a session receives on: `all`, its user's, its groups', and its first server's inbox. */
  #channelsOf(
    connectionId: string,
    groups: Iterable<string> | undefined,
    userId: string | undefined,
  ): string[] {
    const { channels } = this.#options;
    const list = [channels.all];
    if (userId) list.push(channels.user(userId));
    for (const group of groups ?? []) list.push(channels.group(group));
    const owner = ownerOfConnection(connectionId);
    if (owner !== undefined) list.push(channels.server(owner));
    return list;
  }

  /** Durable mode: this server's log position on each of the session's channels. */
  #positions(list: readonly string[]): Record<string, LogPosition> {
    const replay = this.#options.replay;
    const positions: Record<string, LogPosition> = {};
    if (!replay) return positions;
    for (const channel of list) {
      const position = replay.position(channel);
      if (position !== undefined) positions[channel] = position;
    }
    return positions;
  }

  /** Unacknowledged frames for the record: runs of log entries where the log can find them again, else bytes. */
  #pending(unacked: readonly UnackedFrame[]): PendingFrames[] {
    const durable = this.#options.replay !== undefined;
    const pending: Array<PendingFrames & {}> = [];
    let run: { channel: string; after: LogPosition; count: number } | undefined;
    for (const { frame, source } of unacked) {
      if (durable && source?.after !== undefined) {
        if (run && run.channel === source.channel) {
          run.count++;
          continue;
        }
        run = { channel: source.channel, after: source.after, count: 1 };
        pending.push(run);
        continue;
      }
      run = undefined;
      pending.push(frame);
    }
    return pending;
  }

  /** The store's key for a session key; `InvalidArgumentError` past the store's bound. */
  #storeKey(key: string): string {
    const storeKey = this.#options.channels.sessionKey(key);
    if (storeKey.length > MAX_RECORD_KEY_LENGTH)
      throw new InvalidArgumentError(
        `A session key makes a store key of ${storeKey.length} characters, over ${MAX_RECORD_KEY_LENGTH}.`,
      );
    return storeKey;
  }

  #requireStore(): SessionStoreDriver {
    if (!this.#store)
      throw new SessionError(
        'unavailable',
        `The driver '${this.#options.driver.name}' keeps no session records.`,
      );
    return this.#store;
  }
}
