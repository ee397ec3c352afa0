import type { Channels } from './channels.js';
import type { Driver, MessageHandler } from './driver.js';
import type { Envelope, PresenceAnswerBody, PresenceQueryBody, PresenceQueryKind } from './envelope.js';
import { decodeEnvelope } from './envelope-codec.js';
import { ClosedError, InvalidArgumentError } from './errors.js';
import { ownerOfConnection } from './ids.js';
import type { LocalConnections } from './local-connections.js';
import type { Logger } from './logger.js';
import { type LocalAnswer, PresenceAnswerer, sendUnsequenced } from './presence-answerer.js';
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

/** The live servers known from heartbeats, where the driver cannot count receivers (see `Presence`). */
export interface ServerRoster {
  liveServers(): readonly string[] | undefined;
  /** When `liveServers()` starts answering, epoch ms. */
  readonly warmAt: number;
  isGone(serverId: string): boolean;
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

/** What a query combines its answers into. */
type Combine<T> = (
  answers: ReadonlyMap<string, LocalAnswer>,
  limit: number,
) => { value: T; truncated: boolean };

interface Pending {
  /** Answers by server id, this server's own included. */
  readonly answers: Map<string, LocalAnswer>;
  /** Set when one server only is asked (the owner of a connection): nobody else's answer counts. */
  readonly only: string | undefined;
  /** Whom to wait for: a number of other servers (receiver counts), a set of ids (heartbeats), or unknown. */
  expected: number | Set<string> | undefined;
  /** Where servers announce themselves: whether some source (this server, an answer) knows them all. */
  warm: boolean;
  /** Settles the query: with the missing servers computed, or early because the answer is already sure. */
  check(final: boolean): void;
  fail(error: Error): void;
}

/**
 * Presence queries (the asking side): scatter-gather on `internal:presence-query` with a deadline. Which
 * servers to wait for comes from the driver's receiver count of the query's publish (Redis, memory), or
 * from the heartbeats of `Presence` where the driver cannot count (NATS, Kafka): the asker's own list of
 * live servers once it has listened long enough, and the lists the answering servers send along.
 */
export class PresenceQueries implements HubPresence {
  readonly #options: PresenceQueriesOptions;
  readonly #pending = new Map<number, Pending>();
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
    return (
      this.#guard(() => requireUserId(userId, this.#options.maxUserIdLength)) ??
      this.#scatter('user', userId, options, sum)
    );
  }

  isUserOnline(userId: string, options?: PresenceQueryOptions): Promise<PresenceResult<boolean>> {
    const online: Combine<boolean> = (answers) => ({
      value: [...answers.values()].some((a) => a.count > 0),
      truncated: false,
    });
    return (
      this.#guard(() => requireUserId(userId, this.#options.maxUserIdLength)) ??
      this.#scatter('user', userId, options, online, (answer) => answer.count > 0)
    );
  }

  userConnections(userId: string, options?: PresenceQueryOptions): Promise<PresenceResult<string[]>> {
    return (
      this.#guard(() => requireUserId(userId, this.#options.maxUserIdLength)) ??
      this.#scatter('user-connections', userId, options, list)
    );
  }

  async connectionGroups(
    connectionId: string,
    options?: PresenceQueryOptions,
  ): Promise<PresenceResult<string[] | undefined>> {
    requireName(connectionId, 'Connection id');
    const timeout = this.#timeout(options);
    const owner = ownerOfConnection(connectionId);
    const { serverId, local, roster, channels } = this.#options;
    await this.#ready();
    const groups: Combine<string[] | undefined> = (answers, limit) => {
      const answer = answers.values().next().value;
      if (answer?.ids === undefined) return { value: undefined, truncated: false };
      return {
        value: answer.ids.slice(0, limit),
        truncated: answer.count > Math.min(answer.ids.length, limit),
      };
    };
    const none = () => complete(groups(new Map(), 0), local ? 1 : 0);
    // A foreign id names no server; a gone server holds nothing.
    if (owner === undefined || (owner !== serverId && roster?.isGone(owner))) return none();
    if (owner === serverId) {
      if (!local) return none();
      return complete(
        groups(
          new Map([[serverId, local.answer('connection-groups', connectionId, this.#options.maxResults)]]),
          this.#options.maxResults,
        ),
        1,
      );
    }
    return this.#ask(
      'connection-groups',
      connectionId,
      channels.server(owner),
      timeout,
      options?.signal,
      groups,
      undefined,
      owner,
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
    const pending = this.#pending.get(answer.id);
    if (!pending || pending.answers.has(answer.origin)) return;
    if (pending.only !== undefined && answer.origin !== pending.only) return;
    const ids =
      answer.ids && answer.ids.length > this.#options.maxResults
        ? answer.ids.slice(0, this.#options.maxResults)
        : answer.ids;
    pending.answers.set(
      answer.origin,
      ids === undefined ? { count: answer.count } : { count: answer.count, ids },
    );
    if (answer.peers && pending.only === undefined && pending.expected instanceof Set) {
      pending.warm = true;
      for (const peer of answer.peers) if (peer !== this.#options.serverId) pending.expected.add(peer);
    }
    pending.check(false);
  }

  /** Fails every query still waiting (the manager or context closed). */
  close(): void {
    for (const pending of this.#pending.values()) pending.fail(new ClosedError('The presence query'));
    this.#pending.clear();
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
    return this.#ask(
      query,
      name,
      this.#options.channels.presenceQuery,
      timeout,
      options?.signal,
      combine,
      sure,
    );
  }

  /**
   * Publishes one query and collects the answers: this server's own at once, the others' as they arrive.
   * @param owner set when one server only is asked (its inbox), and only its answer counts.
   */
  #ask<T>(
    query: PresenceQueryKind,
    name: string | undefined,
    channel: string,
    timeout: number,
    signal: AbortSignal | undefined,
    combine: Combine<T>,
    sure: ((answer: LocalAnswer) => boolean) | undefined,
    owner?: string,
  ): Promise<PresenceResult<T>> {
    signal?.throwIfAborted();
    const { serverId, local, roster, driver, maxResults } = this.#options;
    const id = ++this.#nextId;
    const answers = new Map<string, LocalAnswer>();
    if (local && owner === undefined) {
      const own = local.answer(query, name, maxResults);
      answers.set(serverId, own);
      // This server's answer settles it already (a user online here): nobody else need be asked.
      if (sure?.(own)) return Promise.resolve(complete(combine(answers, maxResults), 1));
    }
    const counted = driver.capabilities.receiverCount;
    const live = counted ? undefined : roster?.liveServers();
    return new Promise<PresenceResult<T>>((resolve, reject) => {
      let published = false;
      const timers: NodeJS.Timeout[] = [];
      const done = () => {
        this.#pending.delete(id);
        for (const timer of timers) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        done();
        reject(signal?.reason);
      };
      const pending: Pending = {
        answers,
        only: owner,
        expected: owner !== undefined ? new Set([owner]) : counted ? undefined : new Set(live),
        warm: owner !== undefined || live !== undefined,
        check: (final) => {
          const missing = published ? missingServers(pending, serverId) : undefined;
          const isSure = sure !== undefined && [...answers.values()].some(sure);
          if (!final && !isSure && missing?.count !== 0) return;
          done();
          const { value, truncated } = combine(answers, maxResults);
          resolve({
            value,
            partial: !isSure && missing?.count !== 0,
            servers: answers.size,
            missing: isSure ? 0 : missing?.count,
            missingServers: isSure ? [] : (missing?.ids ?? []),
            truncated,
          });
        },
        fail: (error) => {
          done();
          reject(error);
        },
      };
      this.#pending.set(id, pending);
      signal?.addEventListener('abort', onAbort, { once: true });
      timers.push(setTimeout(() => pending.check(true), timeout));
      // A server that has not listened long enough may learn every live server before the deadline.
      if (!pending.warm && roster && roster.warmAt > Date.now())
        timers.push(
          setTimeout(() => {
            const known = roster.liveServers();
            if (!known || !(pending.expected instanceof Set)) return;
            pending.warm = true;
            for (const server of known) pending.expected.add(server);
            pending.check(false);
          }, roster.warmAt - Date.now()),
        );
      for (const timer of timers) timer.unref();
      sendUnsequenced(this.#options, channel, {
        kind: 'presence-query',
        id,
        query,
        ...(name !== undefined && { name }),
        limit: maxResults,
      }).then(
        (receivers) => {
          if (!this.#pending.has(id)) return;
          if (owner !== undefined) {
            if (counted && receivers === 0) pending.expected = new Set(); // its server is gone
          } else if (counted) {
            // Everyone subscribed answers; this server (subscribed too) answered already.
            pending.expected =
              typeof receivers === 'number' ? Math.max(0, receivers - (local ? 1 : 0)) : undefined;
          }
          published = true;
          pending.check(false);
        },
        (error: unknown) => {
          this.#options.log.debug('Could not publish a presence query', { query, error });
          if (this.#pending.has(id)) pending.check(true);
        },
      );
    });
  }
}

/** Who has not answered yet, and how many: `undefined` count when it cannot be told. */
function missingServers(
  pending: Pending,
  self: string,
): { count: number | undefined; ids: readonly string[] } {
  const { expected, answers } = pending;
  if (expected === undefined) return { count: undefined, ids: [] };
  if (typeof expected === 'number') {
    const others = answers.size - (answers.has(self) ? 1 : 0);
    return { count: Math.max(0, expected - others), ids: [] };
  }
  if (!pending.warm) return { count: undefined, ids: [] };
  const ids = [...expected].filter((server) => server !== self && !answers.has(server));
  return { count: ids.length, ids };
}

function complete<T>(combined: { value: T; truncated: boolean }, servers: number): PresenceResult<T> {
  return { ...combined, partial: false, servers, missing: 0, missingServers: [] };
}

const sum: Combine<number> = (answers) => {
  let total = 0;
  for (const answer of answers.values()) total += answer.count;
  return { value: total, truncated: false };
};

const list: Combine<string[]> = (answers, limit) => {
  const ids: string[] = [];
  let truncated = false;
  for (const answer of answers.values()) {
    const got = answer.ids ?? [];
    ids.push(...got.slice(0, limit));
    if (answer.count > Math.min(got.length, limit)) truncated = true;
  }
  return { value: ids, truncated };
};

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
