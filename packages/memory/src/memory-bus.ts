import { ExpiringRecords } from '@backplane/core/internal';

/** Expired session records are swept out once per this many writes. */
const SWEEP_EVERY_WRITES = 256;

/** A subscriber on the bus (a memory driver). */
export interface BusSubscriber {
  deliver(channel: string, payload: Uint8Array): void;
}

/**
 * The shared in-process "broker": literal channels, receivers counted at publish time, delivery in
 * publish order on a later turn of the event loop (like a network broker, never re-entrant). Several hub
 * lifetime managers on one bus behave as separate servers. It also keeps the session records of the
 * managers on it (their session store), each until its deadline.
 */
export class MemoryBus {
  readonly #subscribers = new Map<string, Set<BusSubscriber>>();
  readonly #queue: Array<{ channel: string; payload: Uint8Array; to: BusSubscriber[] }> = [];
  #scheduled = false;
  /** Session records, each until its deadline. */
  readonly #records = new ExpiringRecords();
  /** Writes since expired records were last swept out. */
  #writesSinceSweep = 0;

  /** Number of subscribers of a channel (like Redis `PUBSUB NUMSUB`). */
  subscriberCount(channel: string): number {
    return this.#subscribers.get(channel)?.size ?? 0;
  }

  /** Channels with at least one subscriber (like Redis `PUBSUB CHANNELS`). */
  channels(): string[] {
    return [...this.#subscribers.keys()];
  }

  subscribe(channel: string, subscriber: BusSubscriber): void {
    let set = this.#subscribers.get(channel);
    if (!set) {
      set = new Set();
      this.#subscribers.set(channel, set);
    }
    set.add(subscriber);
  }

  unsubscribe(channel: string, subscriber: BusSubscriber): void {
    const set = this.#subscribers.get(channel);
    if (!set?.delete(subscriber)) return;
    if (set.size === 0) this.#subscribers.delete(channel);
  }

  /** Queues a message for the channel's current subscribers; returns how many there are. */
  publish(channel: string, payload: Uint8Array): number {
    const set = this.#subscribers.get(channel);
    if (!set || set.size === 0) return 0;
    this.#queue.push({ channel, payload, to: [...set] });
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#drain());
    }
    return set.size;
  }

  /**
   * Stores a copy of `value` under `key` until `ttlMs` from now, replacing what was there. Expired records
   * are swept out every so many writes (no timer: the bus never keeps the process alive).
   */
  putRecord(key: string, value: Uint8Array, ttlMs: number): void {
    this.#records.put(key, value, Date.now() + ttlMs);
    if (++this.#writesSinceSweep >= SWEEP_EVERY_WRITES) {
      this.#writesSinceSweep = 0;
      this.#records.sweep();
    }
  }

  /** A copy of the record under `key`, or `undefined` when there is none or it expired. */
  getRecord(key: string): Uint8Array | undefined {
    return this.#records.get(key);
  }

  /** Removes the record under `key` (a missing one too, quietly). */
  deleteRecord(key: string): void {
    this.#records.delete(key);
  }

  /** How many records the bus holds, expired ones not yet swept out included. */
  recordCount(): number {
    return this.#records.size;
  }

  #drain(): void {
    this.#scheduled = false;
    const batch = this.#queue.splice(0, this.#queue.length);
    for (const { channel, payload, to } of batch) {
      for (const subscriber of to) subscriber.deliver(channel, payload);
    }
  }
}

let defaultBus: MemoryBus | undefined;

/** The process-wide bus used when a memory driver is given none. */
export function getDefaultBus(): MemoryBus {
  defaultBus ??= new MemoryBus();
  return defaultBus;
}
