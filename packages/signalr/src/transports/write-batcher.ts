import type { Logger } from '@backplane/core';
import type { HubServerStats } from '../hub-server-stats.js';

/** A sender that holds the records of one event-loop iteration and writes them as one message. */
export interface BatchedSender {
  /** Writes what waits as one message: one WebSocket frame, one event, one poll answer. */
  flush(): void;
  /** Drops what waits and cuts the connection (a flush that threw). */
  abort(): void;
}

/** Where a sender hands the records it queued: written at the end of the iteration, or at once. */
export interface Writer {
  /** Registers a sender that has records waiting; call once per iteration per sender. */
  schedule(sender: BatchedSender): void;
  /** Counts one message that left with `records` messages in it. */
  sent(records: number): void;
}

/**
 * Writes what a sender queued at once (raw connections: each send is its own WebSocket message or event,
 * so its boundaries stay where the handler put them). Counts nothing: the server's counters are hub records.
 */
export const IMMEDIATE_WRITER: Writer = {
  schedule(sender) {
    sender.flush();
  },
  sent() {},
};

/**
 * One per hub server. A sender that queues its first record of an iteration registers here; once per
 * iteration, in the check phase (`setImmediate`, after that iteration's I/O callbacks ran), every
 * registered sender writes what it holds as one message. So a burst from the backplane, or many
 * invocations read from one socket read, leaves as one message and one syscall per connection, and the
 * server pays for one immediate per iteration, not one per connection. Order per connection is the order
 * of the records: a sender flushes before anything that must not overtake them (a close, a switch of frame
 * type).
 */
export class WriteBatcher implements Writer {
  #queued: BatchedSender[] = [];
  #spare: BatchedSender[] = [];
  #scheduled = false;
  readonly #run = (): void => this.flushAll();

  constructor(
    readonly stats: HubServerStats,
    readonly log: Logger,
  ) {}

  /** Registers a sender that has records waiting; call once per iteration per sender. */
  schedule(sender: BatchedSender): void {
    this.#queued.push(sender);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#run);
    }
  }

  /** Counts one message that left with `records` hub messages in it (the batch factor is their ratio). */
  sent(records: number): void {
    this.stats.framesSent++;
    this.stats.recordsSent += records;
  }

  /** Flushes every registered sender (normally from the immediate). A sender that throws is cut alone. */
  flushAll(): void {
    this.#scheduled = false;
    const queued = this.#queued;
    this.#queued = this.#spare;
    for (let i = 0; i < queued.length; i++) {
      const sender = queued[i]!;
      try {
        sender.flush();
      } catch (error) {
        this.log.warn('Writing to a connection failed; it is closed', { error });
        try {
          sender.abort();
        } catch {
          // already cut
        }
      }
    }
    queued.length = 0;
    this.#spare = queued;
  }
}
