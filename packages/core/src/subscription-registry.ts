import type { Driver } from './driver.js';

interface Entry {
  readonly members: Set<string>;
  /** Whether the broker subscription is (or is being made) live. */
  subscribed: boolean;
  /** The last queued subscribe/unsubscribe for this channel; operations on one channel run in order. */
  tail: Promise<void>;
}

/**
 * Lazy, ref-counted channel subscriptions: a group or user channel is subscribed when its first local
 * member arrives and unsubscribed when its last one leaves. Operations on one channel are serialized and
 * each one acts on the membership at the time it runs, so quick join/leave/join sequences end in the right
 * state without redundant broker round trips.
 */
export class SubscriptionRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #driver: Driver;
  readonly #onError: (channel: string, error: unknown) => void;
  readonly #onReleased: (channel: string) => void;
  /**
   * Called once a channel's subscription is live; the join resolves after what it returns (durable mode:
   * the channel's log position, so a session record saved right after a join has it).
   */
  onSubscribed: (channel: string) => void | Promise<void> = () => {};

  /**
   * @param onError a subscribe/unsubscribe failed (the caller of add/remove also gets the rejection)
   * @param onReleased a channel was unsubscribed (its sequence tracking must start afresh)
   */
  constructor(
    driver: Driver,
    onError: (channel: string, error: unknown) => void,
    onReleased: (channel: string) => void = () => {},
  ) {
    this.#driver = driver;
    this.#onError = onError;
    this.#onReleased = onReleased;
  }

  /** Local members of a channel (empty when none). */
  members(channel: string): ReadonlySet<string> {
    return this.#entries.get(channel)?.members ?? EMPTY;
  }

  has(channel: string, member: string): boolean {
    return this.#entries.get(channel)?.members.has(member) ?? false;
  }

  /**
   * Adds a member. Resolves once the channel's subscription is live (rejects if subscribing failed;
   * the member stays registered so local sends still reach it).
   */
  add(channel: string, member: string): Promise<void> {
    let entry = this.#entries.get(channel);
    if (!entry) {
      entry = { members: new Set(), subscribed: false, tail: Promise.resolve() };
      this.#entries.set(channel, entry);
    }
    entry.members.add(member);
    return this.#reconcile(channel, entry);
  }

  /** Removes a member; unsubscribes when it was the last one. Resolves when that is done. */
  remove(channel: string, member: string): Promise<void> {
    const entry = this.#entries.get(channel);
    if (!entry?.members.delete(member)) return entry?.tail ?? Promise.resolve();
    return this.#reconcile(channel, entry);
  }

  #reconcile(channel: string, entry: Entry): Promise<void> {
    const run = async () => {
      const want = entry.members.size > 0;
      if (want === entry.subscribed) return;
      if (want) {
        await this.#driver.subscribe(channel);
        entry.subscribed = true;
        await this.onSubscribed(channel);
      } else {
        entry.subscribed = false;
        this.#onReleased(channel);
        await this.#driver.unsubscribe(channel);
      }
    };
    const op = entry.tail.then(run);
    const settled = op.catch((error: unknown) => this.#onError(channel, error));
    entry.tail = settled;
    void settled.then(() => {
      // Forget an idle channel only when no later operation was queued behind this one.
      if (entry.tail === settled && entry.members.size === 0 && !entry.subscribed) {
        if (this.#entries.get(channel) === entry) this.#entries.delete(channel);
      }
    });
    return op;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
