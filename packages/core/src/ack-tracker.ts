import { AckTimeoutError, ClosedError } from './errors.js';

interface PendingAck {
  resolve(): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
  describe(): string;
}

/** Pending acknowledgements of group commands sent to other servers, each with its own timeout. */
export class AckTracker {
  readonly #pending = new Map<number, PendingAck>();
  #nextId = 0;

  /** Registers a new ack; `describe` names the command in the timeout error. */
  create(
    timeoutMs: number,
    describe: () => string,
    onTimeout: () => void,
  ): { id: number; done: Promise<void> } {
    const id = ++this.#nextId;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        onTimeout();
        reject(new AckTimeoutError(`${describe()} was not acknowledged within ${timeoutMs} ms.`, timeoutMs));
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, { resolve, reject, timer, describe });
    });
    // The caller awaits `done` only after its publish: a rejection (timeout, close) that comes first must
    // not count as unhandled. The caller still sees it.
    done.catch(() => {});
    return { id, done };
  }

  /** Completes an ack; unknown or late ids are ignored. */
  resolve(id: number): void {
    const entry = this.#pending.get(id);
    if (!entry) return;
    this.#pending.delete(id);
    clearTimeout(entry.timer);
    entry.resolve();
  }

  /**
   * Fails an ack the other server answered with a refusal; `error` gets the command's description.
   * Unknown or late ids are ignored.
   */
  refuse(id: number, error: (command: string) => Error): void {
    const entry = this.#pending.get(id);
    if (!entry) return;
    this.#pending.delete(id);
    clearTimeout(entry.timer);
    entry.reject(error(entry.describe()));
  }

  /** Completes an ack without an answer (the command needs none, e.g. its target exists nowhere). */
  forget(id: number): void {
    this.resolve(id);
  }

  /** Rejects every pending ack (on close). */
  closeAll(): void {
    for (const [id, entry] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(entry.timer);
      entry.reject(new ClosedError('The hub lifetime manager'));
    }
  }
}
