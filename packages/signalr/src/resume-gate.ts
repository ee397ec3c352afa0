const RESOLVED = Promise.resolve();

/**
 * What waits for a paused connection to read again (a POST whose answer is held for backpressure): one
 * promise shared by every waiter, made only when something waits, resolved and cleared on release.
 */
export class ResumeGate {
  #resumed: { promise: Promise<void>; resolve(): void } | undefined;

  /** Resolves at once unless `paused`; else once {@link release} is called. */
  wait(paused: boolean): Promise<void> {
    if (!paused) return RESOLVED;
    if (!this.#resumed) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.#resumed = { promise, resolve };
    }
    return this.#resumed.promise;
  }

  /** Reading resumed (or the connection closed): lets every waiter through. */
  release(): void {
    const resumed = this.#resumed;
    this.#resumed = undefined;
    resumed?.resolve();
  }
}
