import type { LocalAnswer } from './presence-answerer.js';
import type { PresenceResult } from './presence-result.js';

/** What a query combines its answers into; `limit` is the most ids taken from one answer. */
export type Combine<T> = (
  answers: ReadonlyMap<string, LocalAnswer>,
  limit: number,
) => { value: T; truncated: boolean };

/**
 * Whom a query waits for:
 * - a number of other servers (the driver's receiver count of the query's publish);
 * - a set of server ids (where servers announce themselves, or the one owner asked), trusted once `warm`;
 * - `undefined`: nobody can tell (the query could not be published).
 */
export type Expected = number | Set<string> | undefined;

export interface GatherOptions<T> {
  /** The asker's server id (its own answer is never waited for). */
  readonly self: string;
  /**
   * Set when one server only is asked (a connection's owner, on its inbox): nobody else's answer counts,
   * but a `sure` one (from the server that adopted the connection's session and follows that inbox).
   */
  readonly only: string | undefined;
  readonly expected: Expected;
  /** Whether the expected set lists every live server (a source that had listened long enough). */
  readonly warm: boolean;
  readonly combine: Combine<T>;
  /** An answer that settles the query whatever the others say (a user online somewhere). */
  readonly sure: ((answer: LocalAnswer) => boolean) | undefined;
  /** The most ids taken from one answer. */
  readonly limit: number;
  readonly resolve: (result: PresenceResult<T>) => void;
  /** Called once, when the query settles (clear timers, forget it). */
  readonly done: () => void;
}

/**
 * The answers to one presence query as they arrive, and when it is complete: every expected server
 * answered, or one answer is enough (`sure`). At the deadline it settles with what it has, saying who
 * did not answer.
 */
export class Gather<T> {
  readonly answers = new Map<string, LocalAnswer>();
  readonly #options: GatherOptions<T>;
  #expected: Expected;
  #warm: boolean;
  /** The query left (until then nobody can say who should answer). */
  #published = false;
  #settled = false;

  constructor(options: GatherOptions<T>) {
    this.#options = options;
    this.#expected = options.expected;
    this.#warm = options.warm;
  }

  get settled(): boolean {
    return this.#settled;
  }

  get warm(): boolean {
    return this.#warm;
  }

  /** A server's answer; `peers` are the live servers it knows of (where servers announce themselves). */
  add(origin: string, answer: LocalAnswer, peers?: readonly string[]): void {
    if (this.#settled || this.answers.has(origin)) return;
    const { only, sure } = this.#options;
    if (only !== undefined && origin !== only && !sure?.(answer)) return;
    this.answers.set(origin, answer);
    if (peers && this.#options.only === undefined) this.learn(peers);
    this.check(false);
  }

  /** Every server in `live` is alive: wait for its answer too (the list is complete). */
  learn(live: readonly string[]): void {
    if (!(this.#expected instanceof Set)) return;
    this.#warm = true;
    for (const server of live) if (server !== this.#options.self) this.#expected.add(server);
  }

  /** Whom to wait for after all: with receiver counts, how many others received the query. */
  expect(expected: Expected): void {
    this.#expected = expected;
  }

  /** The query left: from now on, who is missing can be told. */
  published(): void {
    this.#published = true;
    this.check(false);
  }

  /** Settles when complete, or at the deadline (`final`) whatever it has. */
  check(final: boolean): void {
    if (this.#settled) return;
    const sure = this.#options.sure !== undefined && [...this.answers.values()].some(this.#options.sure);
    const missing = sure ? { count: 0, ids: [] } : this.#missing();
    if (!final && missing.count !== 0) return;
    this.#settled = true;
    this.#options.done();
    const { value, truncated } = this.#options.combine(this.answers, this.#options.limit);
    this.#options.resolve({
      value,
      partial: missing.count !== 0,
      servers: this.answers.size,
      missing: missing.count,
      missingServers: missing.ids,
      truncated,
    });
  }

  /** Who has not answered, and how many: an `undefined` count when nobody can tell. */
  #missing(): { count: number | undefined; ids: readonly string[] } {
    const expected = this.#expected;
    if (!this.#published || expected === undefined) return { count: undefined, ids: [] };
    if (typeof expected === 'number') {
      const others = this.answers.size - (this.answers.has(this.#options.self) ? 1 : 0);
      return { count: Math.max(0, expected - others), ids: [] };
    }
    if (!this.#warm) return { count: undefined, ids: [] };
    const ids = [...expected].filter((server) => !this.answers.has(server));
    return { count: ids.length, ids };
  }
}

/** A result that needed nobody else's answer. */
export function complete<T>(combined: { value: T; truncated: boolean }, servers: number): PresenceResult<T> {
  return { ...combined, partial: false, servers, missing: 0, missingServers: [] };
}

/** Counts add up. */
export const sum: Combine<number> = (answers) => {
  let total = 0;
  for (const answer of answers.values()) total += answer.count;
  return { value: total, truncated: false };
};

/** Lists join; a server that counted more than it listed cut its list. */
export const list: Combine<string[]> = (answers, limit) => {
  const ids: string[] = [];
  let truncated = false;
  for (const answer of answers.values()) {
    const got = answer.ids ?? [];
    ids.push(...got.slice(0, limit));
    if (answer.count > Math.min(got.length, limit)) truncated = true;
  }
  return { value: ids, truncated };
};

/** Whether a user has a connection on a server that answered. */
export const online: Combine<boolean> = (answers) => {
  for (const answer of answers.values()) if (answer.count > 0) return { value: true, truncated: false };
  return { value: false, truncated: false };
};

/** The owner's list of a connection's groups, or `undefined` when it does not hold the connection. */
export const groupsOfConnection: Combine<string[] | undefined> = (answers, limit) => {
  const answer = answers.values().next().value;
  if (answer?.ids === undefined) return { value: undefined, truncated: false };
  return {
    value: answer.ids.slice(0, limit),
    truncated: answer.count > Math.min(answer.ids.length, limit),
  };
};
