/** Retry delays: exponential from `initialDelay`, capped at `maxDelay`, with jitter. */
export interface BackoffOptions {
  /** First delay, in ms. @default 100 */
  initialDelay?: number;
  /** Upper bound of a delay, in ms. @default 10_000 */
  maxDelay?: number;
  /** Growth factor per attempt. @default 2 */
  factor?: number;
  /** Fraction of each delay that is randomized (0 = none, 1 = "full jitter"). @default 0.5 */
  jitter?: number;
}

/**
 * The delay before reconnect attempt `attempt` (0-based): exponential, capped, with jitter so that many
 * servers losing one broker do not reconnect in lockstep. `random` is injectable for tests.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const { initialDelay = 100, maxDelay = 10_000, factor = 2, jitter = 0.5 } = options;
  const base = Math.min(maxDelay, initialDelay * factor ** Math.max(0, attempt));
  const spread = base * Math.min(1, Math.max(0, jitter));
  return Math.round(base - spread + random() * spread);
}
