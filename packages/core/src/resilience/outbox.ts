import type { OutboxPolicy, OverflowReason } from './events.js';

/**
 * Bounds of the outbox, which holds publishes while the broker is unreachable and sends them once it
 * is back.
 */
export interface OutboxOptions {
  /** Most messages buffered. @default 10_000 */
  maxMessages?: number;
  /** Most payload bytes buffered. @default 16 MiB */
  maxBytes?: number;
  /** Oldest message kept, in ms; older ones are dropped when the outbox is next touched. @default 60_000 */
  maxAge?: number;
  /** What to do when full. @default 'drop-oldest' */
  policy?: OutboxPolicy;
  /**
   * How long to wait, once the link is back, before flushing what was buffered, in ms. The other servers
   * come back from the same outage on their own schedule, and a message flushed before a receiver has
   * resubscribed never reaches it: the wait lets them return first. Publishes made meanwhile queue behind
   * the buffered ones (order kept). Only applies when something was buffered.
   * @default 1_000
   */
  flushDelay?: number;
}

export interface OutboxEntry {
  readonly channel: string;
  readonly payload: Uint8Array;
  readonly at: number;
  /** Goes to the durable log as well (durable mode). */
  readonly durable: boolean;
  /** Durable mode: the message's idempotency key, the same on every attempt (see `Driver.publishDurable`). */
  readonly key?: string;
  /** Call order: entries are kept sorted by it, so a publish that failed late still goes before later ones. */
  readonly order: number;
}

/** What an entry carries besides its bytes. */
export interface OutboxEntryMeta {
  /** See {@link OutboxEntry.key}. */
  readonly key?: string;
  /** See {@link OutboxEntry.order}; without it the entry goes last. */
  readonly order?: number;
}

export type OutboxPush =
  | { readonly accepted: true; readonly dropped: number; readonly reason?: OverflowReason }
  | { readonly accepted: false; readonly reason: OverflowReason };

/**
 * A bounded FIFO of publishes waiting for the link: bounded by count, bytes and age. Pure data structure;
 * the clock is passed in so that tests run in virtual time.
 */
export class Outbox {
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  readonly #maxAge: number;
  readonly #policy: OutboxPolicy;
  #entries: OutboxEntry[] = [];
  #head = 0;
  #bytes = 0;

  constructor(options: OutboxOptions = {}) {
    this.#maxMessages = options.maxMessages ?? 10_000;
    this.#maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    this.#maxAge = options.maxAge ?? 60_000;
    this.#policy = options.policy ?? 'drop-oldest';
  }

  get policy(): OutboxPolicy {
    return this.#policy;
  }

  get size(): number {
    return this.#entries.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Buffers a publish, after every entry of a lower `order` (last without one). Expired entries are dropped
   * first; then the count and byte bounds apply.
   */
  push(
    channel: string,
    payload: Uint8Array,
    now: number,
    durable = false,
    meta: OutboxEntryMeta = {},
  ): OutboxPush {
    const expired = this.expire(now);
    if (payload.byteLength > this.#maxBytes) return { accepted: false, reason: 'bytes' };
    const fullBy = (): OverflowReason | undefined =>
      this.size + 1 > this.#maxMessages
        ? 'count'
        : this.#bytes + payload.byteLength > this.#maxBytes
          ? 'bytes'
          : undefined;
    let reason = fullBy();
    if (reason && this.#policy === 'reject') return { accepted: false, reason };
    let dropped = expired;
    const firstReason = reason ?? (expired > 0 ? 'age' : undefined);
    while (reason) {
      this.#shift();
      dropped++;
      reason = fullBy();
    }
    const last = this.#entries[this.#entries.length - 1];
    const order = meta.order ?? (this.size > 0 && last ? last.order : 0);
    let index = this.#entries.length;
    while (index > this.#head && this.#entries[index - 1]!.order > order) index--;
    const entry: OutboxEntry = {
      channel,
      payload,
      at: now,
      durable,
      order,
      ...(meta.key !== undefined && { key: meta.key }),
    };
    this.#entries.splice(index, 0, entry);
    this.#bytes += payload.byteLength;
    return firstReason ? { accepted: true, dropped, reason: firstReason } : { accepted: true, dropped };
  }

  /** Drops entries older than `maxAge`; returns how many. */
  expire(now: number): number {
    let dropped = 0;
    while (this.size > 0 && now - this.#entries[this.#head]!.at > this.#maxAge) {
      this.#shift();
      dropped++;
    }
    return dropped;
  }

  /** The oldest entry, without removing it. */
  peek(): OutboxEntry | undefined {
    return this.#entries[this.#head];
  }

  /** Removes and returns the oldest entry. */
  shift(): OutboxEntry | undefined {
    return this.#shift();
  }

  /** Removes and returns the oldest `max` entries, oldest first (all of them when there are fewer). */
  take(max: number): OutboxEntry[] {
    const end = Math.min(this.#entries.length, this.#head + max);
    const taken = this.#entries.slice(this.#head, end);
    for (const entry of taken) this.#bytes -= entry.payload.byteLength;
    this.#head = end;
    this.#compact();
    return taken;
  }

  /**
   * Puts back entries taken and not sent (a failed flush), each in its call order among the entries
   * buffered since. They count against the bounds again from the next `push`.
   */
  restore(entries: readonly OutboxEntry[]): void {
    if (entries.length === 0) return;
    const rest = this.#entries.slice(this.#head);
    const merged: OutboxEntry[] = [];
    let i = 0;
    let j = 0;
    while (i < entries.length || j < rest.length) {
      if (j >= rest.length || (i < entries.length && entries[i]!.order <= rest[j]!.order))
        merged.push(entries[i++]!);
      else merged.push(rest[j++]!);
    }
    for (const entry of entries) this.#bytes += entry.payload.byteLength;
    this.#entries = merged;
    this.#head = 0;
  }

  #shift(): OutboxEntry | undefined {
    const entry = this.#entries[this.#head];
    if (!entry) return undefined;
    this.#head++;
    this.#bytes -= entry.payload.byteLength;
    this.#compact();
    return entry;
  }

  /** Drops the consumed front of the array once it is all or most of it. */
  #compact(): void {
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
