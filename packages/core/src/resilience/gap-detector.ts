/** A run of sequence numbers that never arrived. */
export interface Gap {
  readonly channel: string;
  readonly origin: string;
  readonly epoch: string;
  readonly from: number;
  readonly to: number;
}

export interface GapDetectorOptions {
  /**
   * How many origins (other servers and hub contexts) are tracked at most; past it the least recently
   * heard from is forgotten, and its next message starts a fresh baseline.
   * @default 10_000
   */
  maxOrigins?: number;
}

/** `sendGroups` batches remembered per origin for de-duplication. */
export const RECENT_BATCHES = 256;

/** What is kept per origin: one epoch (the one heard last), its streams and its recent batches. */
interface OriginState {
  epoch: string;
  /** channel → last seq of this origin's epoch on it. */
  readonly seqs: Map<string, number>;
  /** Durable mode: channel → log position of this origin's last message processed on it. */
  positions: Map<string, string> | undefined;
  /**
   * Recent `sendGroups` batches handled, oldest first. A set, not just the last one: on a sharded broker
   * the copies of consecutive batches travel through different shards and can arrive interleaved.
   */
  batches: Set<number> | undefined;
}

/**
 * Tracks `seq` per (origin, epoch, channel) and the recent `sendGroups` batches per (origin, epoch). The
 * first message seen on a stream sets the baseline (a server cannot know what was published before it
 * subscribed); after that a jump is a gap, a repeat or a step back is a duplicate.
 *
 * The state is bounded, because origins come and go (every restart and every hub context is a new one)
 * and anyone who can publish on the broker can invent them:
 * - one epoch per origin: a message of another epoch replaces the previous epoch's streams and batches
 *   (a server id carries its epoch, so a real server never has two);
 * - at most `maxOrigins` origins, the least recently heard from forgotten first;
 * - `forgetOrigin` when a server is known to be gone, `forgetChannel` after unsubscribing.
 * Forgetting costs at most one unreported gap: the origin's next message is a fresh baseline.
 */
export class GapDetector {
  /** origin → its state; iteration order is least recently heard from first. */
  readonly #origins = new Map<string, OriginState>();
  /** channel → origins with a stream on it (so forgetting a channel touches only those). */
  readonly #channels = new Map<string, Set<string>>();
  readonly #maxOrigins: number;
  /** The origin touched last: a run of messages from one origin skips the reordering. */
  #recent: string | undefined;

  constructor(options: GapDetectorOptions = {}) {
    this.#maxOrigins = options.maxOrigins ?? 10_000;
  }

  /** Origins tracked now. */
  get origins(): number {
    return this.#origins.size;
  }

  /** (origin, channel) streams tracked now. */
  get streams(): number {
    let count = 0;
    for (const state of this.#origins.values()) count += state.seqs.size;
    return count;
  }

  /** `sendGroups` batches remembered now, over all origins. */
  get batches(): number {
    let count = 0;
    for (const state of this.#origins.values()) count += state.batches?.size ?? 0;
    return count;
  }

  /**
   * Records a message. Returns `'ok'`, `'duplicate'`, or the gap it reveals (the message itself is new
   * and should be delivered).
   */
  observe(channel: string, origin: string, epoch: string, seq: number): 'ok' | 'duplicate' | Gap {
    const state = this.#state(origin, epoch);
    const last = state.seqs.get(channel);
    if (last !== undefined && seq <= last) return 'duplicate';
    this.#set(state, origin, channel, seq);
    if (last === undefined || seq === last + 1) return 'ok';
    return { channel, origin, epoch, from: last + 1, to: seq - 1 };
  }

  /**
   * Durable mode: records the log position of the origin's message just processed on `channel` (after
   * `observe`), so a gap in its stream is read back from there.
   */
  setPosition(channel: string, origin: string, position: string): void {
    const state = this.#origins.get(origin);
    if (!state?.seqs.has(channel)) return;
    state.positions ??= new Map();
    state.positions.set(channel, position);
  }

  /** The log position of the origin's last message processed on `channel`, if known. */
  position(channel: string, origin: string): string | undefined {
    return this.#origins.get(origin)?.positions?.get(channel);
  }

  /** Sets a stream back to `seq` (a replay is about to deliver what came after it). */
  rewind(channel: string, origin: string, epoch: string, seq: number): void {
    this.#set(this.#state(origin, epoch), origin, channel, seq);
  }

  /**
   * Whether this is the first copy of a `sendGroups` batch (it is remembered); `false` for a copy that
   * arrived already through another group channel.
   */
  firstCopy(origin: string, epoch: string, batch: number): boolean {
    const state = this.#state(origin, epoch);
    state.batches ??= new Set();
    if (state.batches.has(batch)) return false;
    state.batches.add(batch);
    if (state.batches.size > RECENT_BATCHES)
      state.batches.delete(state.batches.values().next().value as number);
    return true;
  }

  /** Forgets a channel's streams (after unsubscribing, a later subscribe starts a fresh baseline). */
  forgetChannel(channel: string): void {
    const origins = this.#channels.get(channel);
    if (!origins) return;
    this.#channels.delete(channel);
    for (const origin of origins) {
      const state = this.#origins.get(origin);
      state?.seqs.delete(channel);
      state?.positions?.delete(channel);
    }
  }

  /** Forgets everything about an origin (a server known to be gone). */
  forgetOrigin(origin: string): void {
    const state = this.#origins.get(origin);
    if (!state) return;
    this.#clearStreams(state, origin);
    this.#origins.delete(origin);
    if (this.#recent === origin) this.#recent = undefined;
  }

  /** The origin's state for `epoch`, made or replaced as needed, and marked as just heard from. */
  #state(origin: string, epoch: string): OriginState {
    let state = this.#origins.get(origin);
    if (!state) {
      if (this.#origins.size >= this.#maxOrigins) {
        const oldest = this.#origins.keys().next().value as string;
        this.forgetOrigin(oldest);
      }
      state = { epoch, seqs: new Map(), positions: undefined, batches: undefined };
      this.#origins.set(origin, state);
    } else {
      if (state.epoch !== epoch) {
        // Another life of the origin: the previous one's streams and batches will never be needed again.
        this.#clearStreams(state, origin);
        state.batches = undefined;
        state.epoch = epoch;
      }
      if (this.#recent !== origin) {
        this.#origins.delete(origin);
        this.#origins.set(origin, state);
      }
    }
    this.#recent = origin;
    return state;
  }

  #set(state: OriginState, origin: string, channel: string, seq: number): void {
    if (!state.seqs.has(channel)) {
      let origins = this.#channels.get(channel);
      if (!origins) {
        origins = new Set();
        this.#channels.set(channel, origins);
      }
      origins.add(origin);
    }
    state.seqs.set(channel, seq);
  }

  #clearStreams(state: OriginState, origin: string): void {
    for (const channel of state.seqs.keys()) {
      const origins = this.#channels.get(channel);
      origins?.delete(origin);
      if (origins?.size === 0) this.#channels.delete(channel);
    }
    state.seqs.clear();
    state.positions = undefined;
  }
}
