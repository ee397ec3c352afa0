import type { Channels } from './channels.js';
import type { ClientResults } from './client-results.js';
import type { Driver } from './driver.js';
import { ConnectionNotFoundError } from './errors.js';
import { ownerOfConnection } from './ids.js';
import type { Publisher } from './publisher.js';
import type { GapDetector } from './resilience/gap-detector.js';

/**
 * Presence: how long a server presumed gone (silent past its 3 intervals) keeps its entry and its
 * ordering state, in ms. It may only be cut off for a while; if it comes back within this time, gaps in
 * its messages are still reported.
 */
const GONE_SERVER_MEMORY_MS = 600_000;

/**
 * How many presence intervals a server listens before it trusts its list of live servers: every live
 * server announces itself once per interval; the extra half covers delivery and timer drift.
 */
const WARM_INTERVALS = 1.5;

/**
 * Adopted connections a heartbeat names at most (sent and kept): past it, the others are reachable by id
 * only while their first server is alive.
 */
export const MAX_ANNOUNCED_ADOPTIONS = 1_000;

/** A new adoption is announced within this many ms (adoptions in a burst share one heartbeat). */
const ANNOUNCE_DELAY_MS = 100;

/** How long `close()` waits for the goodbye to be published, in ms. */
const GOODBYE_DEADLINE_MS = 3_000;

export interface PresenceOptions {
  readonly serverId: string;
  readonly channels: Channels;
  /** Subscribes the presence channel. */
  readonly driver: Pick<Driver, 'subscribe'>;
  /** Publishes the heartbeats. */
  readonly publisher: Pick<Publisher, 'publish'>;
  /** The ordering state of other servers, forgotten with them. */
  readonly gaps: Pick<GapDetector, 'forgetOrigin'>;
  /** Client results, failed when the server holding their connection is gone. */
  readonly results: Pick<ClientResults, 'failWhere'>;
  /** See `HubLifetimeManagerOptions.presenceInterval`, in ms. */
  readonly interval: number;
  /** See `HubLifetimeManagerOptions.maxTrackedOrigins`. */
  readonly maxTrackedOrigins: number;
  /** The connections this server holds whose ids another server minted (sessions it adopted). */
  readonly adopted: () => Iterable<string>;
}

/**
 * Which other servers are alive, where the driver cannot count receivers (NATS, Kafka): each server
 * announces itself every interval on the presence channel and says goodbye when it closes. A server
 * silent for 3 intervals, or one that said goodbye, is gone. So are its connections, but those a live
 * server announces in its heartbeats as adopted (their sessions moved there): their ids still lead somewhere.
 */
export class Presence {
  /** Server id → when its presence expires (0: it left). */
  readonly #presence = new Map<string, number>();
  /** Server id → the adopted connections it named in its last heartbeat. */
  readonly #adopted = new Map<string, ReadonlySet<string>>();
  readonly #options: PresenceOptions;
  #timer: NodeJS.Timeout | undefined;
  /** A heartbeat announcing new adoptions is due (see {@link announce}). */
  #announcing: NodeJS.Timeout | undefined;
  #startedAt = 0;

  constructor(options: PresenceOptions) {
    this.#options = options;
  }

  /** Subscribes the presence channel and starts announcing this server. */
  async start(startedAt: number): Promise<void> {
    const { driver, channels, interval } = this.#options;
    this.#startedAt = startedAt;
    await driver.subscribe(channels.presence);
    const beat = () => {
      const now = Date.now();
      for (const [server, expires] of this.#presence)
        if (expires < now - GONE_SERVER_MEMORY_MS) this.#forgetServer(server);
      this.#failResultsOfGoneServers();
      this.#beat();
    };
    beat();
    this.#timer = setInterval(beat, interval);
    this.#timer.unref();
  }

  /**
   * Announces this server's adoptions soon (within {@link ANNOUNCE_DELAY_MS}), not at the next interval: a
   * session just adopted may be from a server the others already count as gone.
   */
  announce(): void {
    if (!this.#timer || this.#announcing) return;
    this.#announcing = setTimeout(() => {
      this.#announcing = undefined;
      if (this.#timer) this.#beat();
    }, ANNOUNCE_DELAY_MS);
    this.#announcing.unref();
  }

  #beat(): void {
    const { publisher, channels, interval } = this.#options;
    const adopted: string[] = [];
    for (const id of this.#options.adopted()) {
      if (adopted.length >= MAX_ANNOUNCED_ADOPTIONS) break;
      adopted.push(id);
    }
    publisher
      .publish(channels.presence, { kind: 'heartbeat', interval, ...(adopted.length > 0 && { adopted }) })
      .catch(() => {});
  }

  /** Stops announcing and says goodbye (waiting for that publish a few seconds at most). */
  async close(): Promise<void> {
    if (!this.#timer) return;
    clearInterval(this.#timer);
    clearTimeout(this.#announcing);
    this.#timer = undefined;
    this.#announcing = undefined;
    await withDeadline(
      this.#options.publisher.publish(this.#options.channels.presence, { kind: 'heartbeat', interval: 0 }),
      GOODBYE_DEADLINE_MS,
    );
  }

  /** A server known to be gone for good: drop its presence entry and its ordering state. */
  #forgetServer(serverId: string): void {
    this.#presence.delete(serverId);
    this.#adopted.delete(serverId);
    this.#options.gaps.forgetOrigin(serverId);
  }

  /** Records a heartbeat; the presence map is bounded like the ordering state (least recently heard first). */
  heard(serverId: string, interval: number, adopted?: readonly string[]): void {
    if (adopted?.length && interval > 0)
      this.#adopted.set(serverId, new Set(adopted.slice(0, MAX_ANNOUNCED_ADOPTIONS)));
    else this.#adopted.delete(serverId);
    if (interval === 0) {
      // A goodbye: it is gone now. Keep a tombstone (so it reads as gone, not as never heard of) but
      // none of its ordering state: a restarted node is a new server id.
      this.#presence.delete(serverId);
      this.#presence.set(serverId, 0);
      this.#options.gaps.forgetOrigin(serverId);
      this.#failResultsOfGoneServers();
    } else {
      this.#presence.delete(serverId);
      this.#presence.set(serverId, Date.now() + 3 * interval);
    }
    if (this.#presence.size > this.#options.maxTrackedOrigins)
      this.#forgetServer(this.#presence.keys().next().value as string);
  }

  /**
   * Whether a connection is known to exist nowhere: the server that minted its id is gone (silent, see
   * `#silent`) and no live server announces it as adopted. Ids that name no server are gone. Only answered
   * from presence, where the driver cannot count receivers (otherwise the publish's receiver count tells);
   * never before `start()` has announced this server. A server never heard of counts as gone once this one
   * has listened for 3 intervals.
   */
  isConnectionGone(connectionId: string): boolean {
    const owner = ownerOfConnection(connectionId);
    if (owner === undefined) return true;
    if (this.#timer === undefined) return false;
    const now = Date.now();
    if (!this.#silent(owner, now)) return false;
    for (const [server, adopted] of this.#adopted)
      if (adopted.has(connectionId) && !this.#silent(server, now)) return false;
    return true;
  }

  /** Whether a server is silent: not heard within its last 3 intervals, or it said goodbye. */
  #silent(serverId: string, now: number): boolean {
    const expires = this.#presence.get(serverId);
    if (expires !== undefined) return expires <= now;
    return now - this.#startedAt > 3 * this.#options.interval;
  }

  /**
   * The other servers alive now (heard within their last 3 intervals, no goodbye since), or `undefined`
   * until this server has listened for {@link WARM_INTERVALS} intervals: before that, a live server may
   * not have been heard yet. Presence queries wait for the servers listed here.
   */
  liveServers(): string[] | undefined {
    if (this.#timer === undefined) return undefined;
    const now = Date.now();
    if (now - this.#startedAt < WARM_INTERVALS * this.#options.interval) return undefined;
    const live: string[] = [];
    for (const [server, expires] of this.#presence) if (expires > now) live.push(server);
    return live;
  }

  /** When {@link liveServers} starts answering (epoch ms; 0 before `start()`). */
  get warmAt(): number {
    return this.#timer === undefined ? 0 : this.#startedAt + WARM_INTERVALS * this.#options.interval;
  }

  /** Client results waiting on a server that is gone will never be answered: fail them now. */
  #failResultsOfGoneServers(): void {
    const { serverId, results } = this.#options;
    results.failWhere(
      (connectionId) => {
        const owner = ownerOfConnection(connectionId);
        return owner !== undefined && owner !== serverId && this.isConnectionGone(connectionId);
      },
      (connectionId) => new ConnectionNotFoundError(connectionId),
    );
  }
}

/** Waits for `promise` (errors ignored) at most `ms`. */
async function withDeadline(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
