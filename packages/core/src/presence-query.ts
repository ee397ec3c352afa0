import type { Channels } from './channels.js';
import type { Driver, MessageHandler } from './driver.js';
import type { Envelope, PresenceAnswerBody, PresenceQueryBody, PresenceQueryKind } from './envelope.js';
import { decodeEnvelope } from './envelope-codec.js';
import { ClosedError, InvalidArgumentError } from './errors.js';
import { ownerOfConnection } from './ids.js';
import type { LocalConnections } from './local-connections.js';
import type { Logger } from './logger.js';
import { type LocalAnswer, PresenceAnswerer, sendUnsequenced } from './presence-answerer.js';
import { type Combine, complete, Gather, groupsOfConnection, list, online, sum } from './presence-gather.js';
import type { HubPresence, PresenceQueryOptions, PresenceResult } from './presence-result.js';
import type { BackplaneStats } from './stats.js';
import { limitOption, requireGroupName, requireName, requireUserId } from './validate.js';

/** Defaults of the presence limits (`HubLifetimeManagerOptions`, `HubContextOptions`). */
export const DEFAULT_PRESENCE_TIMEOUT_MS = 1_000;
export const DEFAULT_MAX_PRESENCE_RESULTS = 1_000;

/** Resolves and checks the presence options of a manager or a context (positive integers, or the defaults). */
export function presenceLimits(options: { presenceTimeout?: number; maxPresenceResults?: number }): {
  presenceTimeout: number;
  maxPresenceResults: number;
} {
  return {
    presenceTimeout: limitOption(options.presenceTimeout, 'presenceTimeout', DEFAULT_PRESENCE_TIMEOUT_MS),
    maxPresenceResults: limitOption(
      options.maxPresenceResults,
      'maxPresenceResults',
      DEFAULT_MAX_PRESENCE_RESULTS,
    ),
  };
}

/** The longest deadline a query accepts, in ms (what a timer can wait). */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** An answer to a `connection-groups` query from the server that holds the connection (others have no list). */
const holds = (answer: LocalAnswer): boolean => answer.ids !== undefined;

/** The live servers known from heartbeats, where the driver cannot count receivers (see `Presence`). */
export interface ServerRoster {
  liveServers(): readonly string[] | undefined;
  /** When `liveServers()` starts answering, epoch ms. */
  readonly warmAt: number;
  isConnectionGone(connectionId: string): boolean;
}

export interface PresenceQueriesOptions {
  readonly serverId: string;
  readonly epoch: string;
  readonly channels: Channels;
  /** Queries go straight to the driver (never buffered); its receiver count, if any, says whom to expect. */
  readonly driver: Pick<Driver, 'publish' | 'capabilities'>;
  readonly stats: BackplaneStats;
  readonly log: Logger;
  /** Default deadline of a query, in ms. */
  readonly timeout: number;
  /** The most ids asked of one server. */
  readonly maxResults: number;
  readonly maxGroupNameLength: number;
  readonly maxUserIdLength: number;
  /** This server's own answers; absent on a hub context, which holds no connections. */
  readonly local?: PresenceAnswerer;
  /** Where the driver cannot count receivers and this is a server: the servers it hears. */
  readonly roster?: ServerRoster;
  /** Makes answers able to arrive (start, subscribe the inbox); `undefined` when already done. */
  readonly ready: () => Promise<void> | undefined;
  readonly isClosed: () => boolean;
}

/**
 * Presence queries (the asking side): scatter-gather on `internal:presence-query` with a deadline. Which
 * servers to wait for comes from the driver's receiver count of the query's publish (Redis, memory), or
 * from the heartbeats of `Presence` where the driver cannot count (NATS, Kafka): the asker's own list of
 * live servers once it has listened long enough, and the lists the answering servers send along.
 */
export class PresenceQueries implements HubPresence {
  readonly #options: PresenceQueriesOptions;
  /** Queries waiting for answers, by id. */
  readonly #pending = new Map<number, Pick<Gather<unknown>, 'add'>>();
  /** How to fail each of them (on close). */
  readonly #failers = new Map<number, (error: Error) => void>();
  #nextId = 0;

  constructor(options: PresenceQueriesOptions) {
    this.#options = options;
  }

  connectionCount(options?: PresenceQueryOptions): Promise<PresenceResult<number>> {
    return this.#scatter('connections', undefined, options, sum);
  }

  groupCount(groupName: string, options?: PresenceQueryOptions): Promise<PresenceResult<number>> {
    return (
      this.#guard(() => requireGroupName(groupName, this.#options.maxGroupNameLength)) ??
      this.#scatter('group', groupName, options, sum)
    );
  }

  userConnectionCount(userId: string, options?: PresenceQueryOptions): Promise<PresenceResult<number>> {
    return this.#guard(this.#requireUser(userId)) ?? this.#scatter('user', userId, options, sum);
  }

  isUserOnline(userId: string, options?: PresenceQueryOptions): Promise<PresenceResult<boolean>> {
    return (
      this.#guard(this.#requireUser(userId)) ??
      this.#scatter('user', userId, options, online, (answer) => answer.count > 0)
    );
  }

  userConnections(userId: string, options?: PresenceQueryOptions): Promise<PresenceResult<string[]>> {
    return this.#guard(this.#requireUser(userId)) ?? this.#scatter('user-connections', userId, options, list);
  }

  async connectionGroups(
    connectionId: string,
    options?: PresenceQueryOptions,
  ): Promise<PresenceResult<string[] | undefined>> {
    requireName(connectionId, 'Connection id');
    const timeout = this.#timeout(options);
    await this.#ready();
    const { serverId, local, roster, maxResults } = this.#options;
    const owner = ownerOfConnection(connectionId);
    const own = local?.answer('connection-groups', connectionId, maxResults);
    // Its owner, or the server that adopted its session, answers from its own connections.
    if (own && (owner === serverId || holds(own)))
      return complete(groupsOfConnection(new Map([[serverId, own]]), maxResults), 1);
    // A foreign id names no server; this server does not hold it; a gone server holds nothing.
    if (owner === undefined || owner === serverId || roster?.isConnectionGone(connectionId))
      return complete(groupsOfConnection(new Map(), maxResults), local ? 1 : 0);
    // Asked on the owner's inbox: the owner answers, or a server that adopted the session and follows it.
    return this.#ask(
      'connection-groups',
      connectionId,
      timeout,
      options?.signal,
      groupsOfConnection,
      owner,
      holds,
    );
  }

  /**
   * The presence of a server: its answers to everyone's queries, from its local connections, and its own
   * queries, where it answers for itself at once.
   */
  static forServer(
    options: Omit<PresenceQueriesOptions, 'local' | 'timeout' | 'maxResults'> & {
      readonly connections: LocalConnections;
      readonly presenceTimeout: number;
      readonly maxPresenceResults: number;
    },
  ): PresenceQueries {
    const { roster, presenceTimeout, maxPresenceResults } = options;
    const local = new PresenceAnswerer({
      ...options,
      maxResults: maxPresenceResults,
      peers: () => roster?.liveServers(),
    });
    return new PresenceQueries({
      ...options,
      local,
      timeout: presenceTimeout,
      maxResults: maxPresenceResults,
    });
  }

  /** A query from another server (or a hub context) that this server answers, where it is a server. */
  receiveQuery(query: Envelope & PresenceQueryBody): void {
    this.#options.local?.receive(query);
  }

  /** An answer on this server's inbox. Answers to queries that are over (or never were) are dropped. */
  receiveAnswer(answer: Envelope & PresenceAnswerBody): void {
    const gather = this.#pending.get(answer.id);
    if (!gather) return;
    const max = this.#options.maxResults;
    const ids = answer.ids && answer.ids.length > max ? answer.ids.slice(0, max) : answer.ids;
    gather.add(
      answer.origin,
      ids === undefined ? { count: answer.count } : { count: answer.count, ids },
      answer.peers,
    );
  }

  /** Fails every query still waiting (the manager or context closed). */
  close(): void {
    for (const fail of this.#failers.values()) fail(new ClosedError('The presence query'));
  }

  /** Runs a synchronous check; its error becomes a rejection (a query never throws synchronously). */
  #guard(check: () => void): Promise<never> | undefined {
    try {
      check();
      return undefined;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #requireUser(userId: string): () => void {
    return () => requireUserId(userId, this.#options.maxUserIdLength);
  }

  #timeout(options: PresenceQueryOptions | undefined): number {
    const timeout = options?.timeout ?? this.#options.timeout;
    if (typeof timeout !== 'number' || !(timeout > 0) || timeout > MAX_TIMEOUT_MS)
      throw new InvalidArgumentError(
        `Presence query timeout must be a positive number of ms, at most ${MAX_TIMEOUT_MS} (got ${String(timeout)}).`,
      );
    return timeout;
  }

  async #ready(): Promise<void> {
    if (this.#options.isClosed()) throw new ClosedError('The presence query');
    const starting = this.#options.ready();
    if (starting) await starting;
    if (this.#options.isClosed()) throw new ClosedError('The presence query');
  }

  async #scatter<T>(
    query: PresenceQueryKind,
    name: string | undefined,
    options: PresenceQueryOptions | undefined,
    combine: Combine<T>,
    sure?: (answer: LocalAnswer) => boolean,
  ): Promise<PresenceResult<T>> {
    const timeout = this.#timeout(options);
    await this.#ready();
    return this.#ask(query, name, timeout, options?.signal, combine, undefined, sure);
  }

  /**
   * Publishes one query and gathers the answers: this server's own at once, the others' as they arrive.
   * @param owner set when only a connection's owner is asked (on its inbox), and only its answer counts.
   */
  #ask<T>(
    query: PresenceQueryKind,
    name: string | undefined,
    timeout: number,
    signal: AbortSignal | undefined,
    combine: Combine<T>,
    owner?: string,
    sure?: (answer: LocalAnswer) => boolean,
  ): Promise<PresenceResult<T>> {
    signal?.throwIfAborted();
    const { serverId, local, roster, driver, maxResults, channels } = this.#options;
    const own = local && owner === undefined ? local.answer(query, name, maxResults) : undefined;
    // This server's answer may settle it already (a user online here): nobody else need be asked.
    if (own && sure?.(own))
      return Promise.resolve(complete(combine(new Map([[serverId, own]]), maxResults), 1));
    const counted = driver.capabilities.receiverCount;
    const live = counted || owner !== undefined ? undefined : roster?.liveServers();
    const id = ++this.#nextId;
    return new Promise<PresenceResult<T>>((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      const done = () => {
        this.#pending.delete(id);
        this.#failers.delete(id);
        for (const timer of timers) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const gather = new Gather<T>({
        self: serverId,
        only: owner,
        // The owner alone; else counted on publish, or the live servers this one and the answers know.
        expected: owner !== undefined ? new Set([owner]) : counted ? undefined : new Set(live),
        warm: owner !== undefined || live !== undefined,
        combine,
        sure,
        limit: maxResults,
        resolve,
        done,
      });
      const fail = (error: unknown) => {
        done();
        reject(error);
      };
      const onAbort = () => fail(signal?.reason);
      if (own) gather.answers.set(serverId, own);
      this.#pending.set(id, gather);
      this.#failers.set(id, fail);
      signal?.addEventListener('abort', onAbort, { once: true });
      timers.push(setTimeout(() => gather.check(true), timeout));
      // A server that has not listened long enough yet may, before the deadline.
      const warmIn = roster && !gather.warm ? roster.warmAt - Date.now() : -1;
      if (warmIn >= 0 && warmIn < timeout)
        timers.push(
          setTimeout(() => {
            const known = roster?.liveServers();
            if (known) gather.learn(known);
            gather.check(false);
          }, warmIn),
        );
      for (const timer of timers) timer.unref();
      const body = {
        kind: 'presence-query',
        id,
        query,
        ...(name !== undefined && { name }),
        limit: maxResults,
      } as const;
      sendUnsequenced(
        this.#options,
        owner === undefined ? channels.presenceQuery : channels.server(owner),
        body,
      ).then(
        (receivers) => {
          if (gather.settled) return;
          if (owner !== undefined) {
            if (counted && receivers === 0) gather.expect(new Set()); // its server is gone
          } else if (counted) {
            // Everyone subscribed answers; this server (subscribed too) answered already.
            gather.expect(
              typeof receivers === 'number' ? Math.max(0, receivers - (local ? 1 : 0)) : undefined,
            );
          }
          gather.published();
        },
        (error: unknown) => {
          this.#options.log.debug('Could not publish a presence query', { query, error });
          gather.check(true);
        },
      );
    });
  }
}

/**
 * A hub context's receive path, for presence answers only (it subscribes to its inbox for them and to
 * nothing else): garbage is dropped and counted.
 */
export function presenceAnswerHandler(
  inbox: string,
  queries: PresenceQueries,
  stats: BackplaneStats,
): MessageHandler {
  return (channel, payload) => {
    if (channel !== inbox) return;
    stats.received++;
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(payload, channel);
    } catch {
      stats.malformed++;
      return;
    }
    if (envelope.kind === 'presence-answer') queries.receiveAnswer(envelope);
  };
}
