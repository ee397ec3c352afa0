/** What a receiver saw of a sender's numbered stream (messages numbered 0, 1, 2, … in send order). */
export interface StreamTally {
  /** Messages sent. */
  readonly sent: number;
  /** Messages received, copies included. */
  readonly received: number;
  /** Numbers never received, at any place in the stream. */
  readonly lost: number;
  /**
   * Numbers never received that come after the first one received: the losses a receiver can know of.
   * The first message a receiver sees of a sender is its baseline (it cannot tell what was published
   * before its subscription reached the broker it was sent to; in a NATS cluster interest propagates
   * between servers after the subscribing server confirmed it). Every loss here must be reported.
   */
  readonly lostAfterFirst: number;
  /** Copies received more than once. */
  readonly duplicated: number;
  /** Times a number arrived after a higher one. */
  readonly reordered: number;
  /** The numbers never received, as inclusive runs `[from, to]`, for failure messages. */
  readonly missing: ReadonlyArray<readonly [number, number]>;
}

/** Tallies the numbers a receiver got out of `sent` numbered messages (see {@link StreamTally}). */
export function tallyStream(sent: number, received: readonly number[]): StreamTally {
  const unique = new Set(received);
  let reordered = 0;
  let first = Number.POSITIVE_INFINITY;
  for (let i = 0; i < received.length; i++) {
    const n = received[i]!;
    if (n < first) first = n;
    if (i > 0 && n < received[i - 1]!) reordered++;
  }
  const missing: Array<[number, number]> = [];
  let lostAfterFirst = 0;
  for (let n = 0; n < sent; n++) {
    if (unique.has(n)) continue;
    if (n > first) lostAfterFirst++;
    const run = missing.at(-1);
    if (run && run[1] === n - 1) run[1] = n;
    else missing.push([n, n]);
  }
  return {
    sent,
    received: received.length,
    lost: sent - unique.size,
    lostAfterFirst,
    duplicated: received.length - unique.size,
    reordered,
    missing,
  };
}
