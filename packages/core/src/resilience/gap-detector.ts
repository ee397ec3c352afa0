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
  /** channel → origin → epoch → last seq. Nested maps: no key string is built per message. */
  readonly #last = new Map<string, Map<string, Map<string, number>>>();

  /**
   * Records a message. Returns `'ok'`, `'duplicate'`, or the gap it reveals (the message itself is new
   * and should be delivered).
   */
  observe(channel: string, origin: string, epoch: string, seq: number): 'ok' | 'duplicate' | Gap {
    const epochs = this.#epochs(channel, origin);
    const last = epochs.get(epoch);
    if (last !== undefined && seq <= last) return 'duplicate';
    epochs.set(epoch, seq);
    if (last === undefined || seq === last + 1) return 'ok';
    return { channel, origin, epoch, from: last + 1, to: seq - 1 };
  }

  /** Sets a stream back to `seq` (a replay is about to deliver what came after it). */
  rewind(channel: string, origin: string, epoch: string, seq: number): void {
    this.#epochs(channel, origin).set(epoch, seq);
  }

  /** Forgets a channel's streams (after unsubscribing, a later subscribe starts a fresh baseline). */
  forgetChannel(channel: string): void {
    this.#last.delete(channel);
  }

  /** Forgets every stream of an origin's epoch other than `epoch` (a restarted server). */
  forgetOrigin(origin: string, keepEpoch: string): void {
    for (const origins of this.#last.values()) {
      const epochs = origins.get(origin);
      if (!epochs) continue;
      for (const epoch of epochs.keys()) if (epoch !== keepEpoch) epochs.delete(epoch);
      if (epochs.size === 0) origins.delete(origin);
    }
  }

  #epochs(channel: string, origin: string): Map<string, number> {
    let origins = this.#last.get(channel);
    if (!origins) {
      origins = new Map();
      this.#last.set(channel, origins);
    }
    let epochs = origins.get(origin);
    if (!epochs) {
      epochs = new Map();
      origins.set(origin, epochs);
    }
    return epochs;
  }
}
