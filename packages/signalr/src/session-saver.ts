import type { Logger, SessionCheckpoint, SessionKeeper } from '@backplane/core';

/** What the saver asks of its connection. */
export interface SavedSession {
  readonly connectionId: string;
  /** The session key (its connection token's key): what the client shows again on another server. */
  readonly key: string;
  /** The connection's state now, or `undefined` once it has none to save (closed). */
  checkpoint(): SessionCheckpoint | undefined;
}

/**
 * How many sequence ids a session may get ahead of its last record: a record says the client may hold up
 * to this many more (its `bound`), an adopting node numbers its frames past them, and the holder saves
 * again once half of them are used.
 */
export const SESSION_WINDOW = 1_000;

/**
 * Keeps one stateful connection's record in the session store, so another server can adopt the session if
 * this one dies: saved when the client acknowledges, when this server acknowledges the client, after a
 * frame this server made itself (an invocation's result: no log holds it), after a group change, and at
 * least every third of the record's time to live. One write at a time; changes meanwhile make one more.
 */
export class SessionSaver {
  #saving: Promise<void> | undefined;
  #dirty = false;
  #scheduled = false;
  #savedAt = 0;
  /** The last sequence id the last stored record covers. */
  #savedSent = 0;
  #ended = false;

  constructor(
    readonly sessions: SessionKeeper,
    readonly session: SavedSession,
    readonly log: Logger,
  ) {}

  /** Something the record holds changed: save soon (after this event-loop iteration). */
  changed(): void {
    if (this.#ended) return;
    this.#dirty = true;
    if (this.#saving || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  /** A frame was sent as sequence id `sent`: past half the window since the last record, save again. */
  sent(sent: number): void {
    if (sent - this.#savedSent >= SESSION_WINDOW / 2) this.changed();
  }

  /** The heartbeat: a record not saved for a third of its time to live is saved again. */
  refresh(now: number): void {
    if (now - this.#savedAt > this.sessions.ttl / 3) this.changed();
  }

  /**
   * The session moves to another server (drain): a last record, marked final, and nothing after it.
   * Resolves with whether it is stored (a failure is logged).
   */
  async handOff(): Promise<boolean> {
    this.#ended = true;
    await this.#saving;
    // Taken now, after the save under way: the record's log positions and frames are of one moment.
    const checkpoint = this.session.checkpoint();
    if (!checkpoint) return false;
    try {
      await this.sessions.save(this.session.key, this.session.connectionId, { ...checkpoint, final: true });
      return true;
    } catch (error) {
      this.log.warn('Could not hand a session off', { connectionId: this.session.connectionId, error });
      return false;
    }
  }

  /** Whether another node holds the session now (it adopted it); false when unsure (the store failed). */
  async heldElsewhere(): Promise<boolean> {
    try {
      const record = await this.sessions.load(this.session.key);
      return record !== undefined && !this.sessions.holds(record);
    } catch (error) {
      this.log.warn('Could not read a session record', { connectionId: this.session.connectionId, error });
      return false;
    }
  }

  /** The session ended for good: no more saves, and its record goes once a save under way is done. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    void (this.#saving ?? Promise.resolve()).then(() => this.sessions.end(this.session.key));
  }

  #flush(): void {
    if (this.#ended || !this.#dirty) return;
    const checkpoint = this.session.checkpoint();
    if (!checkpoint) return;
    this.#dirty = false;
    this.#savedAt = Date.now();
    const sent = checkpoint.acked + checkpoint.unacked.length;
    this.#saving = this.sessions
      .save(this.session.key, this.session.connectionId, checkpoint)
      .then(() => {
        this.#savedSent = Math.max(this.#savedSent, sent);
      })
      .catch((error: unknown) => {
        this.log.warn('Could not save a session', { connectionId: this.session.connectionId, error });
      })
      .finally(() => {
        this.#saving = undefined;
        if (this.#dirty) this.changed();
      });
  }
}
