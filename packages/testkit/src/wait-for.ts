/** Options of `waitFor`. */
export interface WaitForOptions {
  /** Give up after this long, in ms. @default 10_000 */
  timeoutMs?: number;
  /** Pause between checks, in ms. @default 50 */
  intervalMs?: number;
  /** Names the condition in the timeout error. */
  name?: string;
}

/** Polls `check` until it returns a truthy value (or resolves to one) and returns it; throws after the deadline. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const { timeoutMs = 10_000, intervalMs = 50, name = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${name}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
