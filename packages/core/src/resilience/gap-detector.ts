/** A run of sequence numbers that never arrived. */
export interface Gap {
  readonly channel: string;
  readonly origin: string;
  readonly epoch: string;
  readonly from: number;
  readonly to: number;
}

/**
 * Tracks `seq` per (origin, epoch, channel). The first message seen on a stream sets the baseline (a server
 * cannot know what was published before it subscribed); after that a jump is a gap, a repeat or a step
 * back is a duplicate. A new epoch of an origin is a new stream.
 */
export class GapDetector {
  readonly #last = new Map<string, number>();

  /**
   * Records a message. Returns `'ok'`, `'duplicate'`, or the gap it reveals (the message itself is new
   * and should be delivered).
   */
  observe(channel: string, origin: string, epoch: string, seq: number): 'ok' | 'duplicate' | Gap {
    const key = `${origin}\u0000${epoch}\u0000${channel}`;
    const last = this.#last.get(key);
    if (last !== undefined && seq <= last) return 'duplicate';
    this.#last.set(key, seq);
    if (last === undefined || seq === last + 1) return 'ok';
    return { channel, origin, epoch, from: last + 1, to: seq - 1 };
  }

  /** Sets a stream back to `seq` (a replay is about to deliver what came after it). */
  rewind(channel: string, origin: string, epoch: string, seq: number): void {
    this.#last.set(`${origin}\u0000${epoch}\u0000${channel}`, seq);
  }

  /** Forgets a channel's streams (after unsubscribing, a later subscribe starts a fresh baseline). */
  forgetChannel(channel: string): void {
    const suffix = `\u0000${channel}`;
    for (const key of this.#last.keys()) if (key.endsWith(suffix)) this.#last.delete(key);
  }

  /** Forgets every stream of an origin's epoch other than `epoch` (a restarted server). */
  forgetOrigin(origin: string, keepEpoch: string): void {
    const prefix = `${origin}\u0000`;
    for (const key of this.#last.keys()) {
      if (key.startsWith(prefix) && !key.startsWith(`${prefix}${keepEpoch}\u0000`)) this.#last.delete(key);
    }
  }
}
