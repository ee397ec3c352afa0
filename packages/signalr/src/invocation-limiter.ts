import type { HubConnectionContext } from './hub-connection-context.js';
import { ReadHold } from './transport-sender.js';

/**
 * One connection's calls: at most `limit` at once, up to `queueLimit` more waiting in arrival order. The
 * dispatcher pauses the connection's reading when the queue is full; the limiter resumes it once the queue
 * is down to half (so a flood is read in batches, not one call per pause).
 */
export class InvocationLimiter {
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(
    readonly connection: HubConnectionContext,
    readonly limit: number,
    readonly queueLimit: number,
  ) {}

  /** Runs `task` now or once a slot frees: `done` settles with it; `full` says whether the queue is now full. */
  run(task: () => Promise<unknown>): { full: boolean; done: Promise<void> } {
    const done = this.#run(task);
    return { full: this.#active >= this.limit && this.#waiting.length >= this.queueLimit, done };
  }

  async #run(task: () => Promise<unknown>): Promise<void> {
    if (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    try {
      await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
      if (this.#waiting.length <= this.queueLimit >> 1) this.connection.resumeReceiving(ReadHold.Invocations);
    }
  }
}
