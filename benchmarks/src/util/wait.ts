/**
 * A count that can be awaited: `until(n)` resolves once `value >= n`, or rejects after `timeoutMs`
 * (the benchmark then reports the contender as failed rather than hanging).
 */
export class Counter {
  value = 0;
  #target = Number.POSITIVE_INFINITY;
  #resolve: (() => void) | undefined;

  add(n = 1): void {
    this.value += n;
    if (this.value >= this.#target) this.#done();
  }

  until(target: number, timeoutMs: number, what: string): Promise<void> {
    if (this.value >= target) return Promise.resolve();
    this.#target = target;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#resolve = undefined;
        this.#target = Number.POSITIVE_INFINITY;
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.value}/${target})`));
      }, timeoutMs);
      this.#resolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #done(): void {
    this.#target = Number.POSITIVE_INFINITY;
    const resolve = this.#resolve;
    this.#resolve = undefined;
    resolve?.();
  }
}

/** Resolves once `condition()` holds, polling every `intervalMs`; rejects after `timeoutMs`. */
export async function pollUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  intervalMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Sends `count` messages through `send`, at most `window` unsettled at a time. */
export async function pump(
  count: number,
  window: number,
  send: (i: number) => Promise<unknown> | undefined,
): Promise<void> {
  let pending: Array<Promise<unknown>> = [];
  for (let i = 0; i < count; i++) {
    const p = send(i);
    if (p) pending.push(p);
    if (pending.length >= window) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
}
