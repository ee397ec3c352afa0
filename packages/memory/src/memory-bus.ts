/** A subscriber on the bus (a memory driver). */
export interface BusSubscriber {
  deliver(channel: string, payload: Uint8Array): void;
}

/**
 * The shared in-process "broker": literal channels, receivers counted at publish time, delivery in
 * publish order on a later turn of the event loop (like a network broker, never re-entrant). Several hub
 * lifetime managers on one bus behave as separate servers.
 */
export class MemoryBus {
  readonly #subscribers = new Map<string, Set<BusSubscriber>>();
  readonly #queue: Array<{ channel: string; payload: Uint8Array; to: BusSubscriber[] }> = [];
  #scheduled = false;

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
