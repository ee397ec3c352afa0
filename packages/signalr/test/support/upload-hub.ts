import { type ClientStreamError, Hub } from '../../src/index.js';
import { gate, SETTLE_MS } from '../two-nodes.js';

/** What the upload hub saw. */
export const seen = {
  collected: [] as unknown[],
  /** How each `Watch` call's stream ended: 'done' or the error's name and message. */
  endings: [] as string[],
  /** Items `Slow` read, in order. */
  slow: [] as unknown[],
  gate: gate(),
  /** Resolved by `Slow` once it started (its stream is open). */
  started: gate(),
};

export class UploadHub extends Hub {
  /** One ordinary argument, then one stream. */
  async Join(label: string, items: AsyncIterable<unknown>) {
    const all: unknown[] = [];
    for await (const item of items) all.push(item);
    return `${label}:${all.join(',')}`;
  }
  /** Two streams around an ordinary argument on the client: `invoke('Zip', a, sep, b)`. */
  async Zip(separator: string, left: AsyncIterable<unknown>, right: AsyncIterable<unknown>) {
    const l: unknown[] = [];
    const r: unknown[] = [];
    for await (const item of left) l.push(item);
    for await (const item of right) r.push(item);
    return l.map((item, i) => `${String(item)}${separator}${String(r[i])}`);
  }
  /** For `send`: no answer, items recorded. */
  async Collect(items: AsyncIterable<unknown>) {
    for await (const item of items) seen.collected.push(item);
    seen.collected.push('end');
  }
  /** Reads its stream and says how it ended. */
  async Watch(items: AsyncIterable<unknown>) {
    try {
      for await (const _ of items) {
        // items are not kept
      }
      seen.endings.push('done');
      return 'done';
    } catch (error) {
      const e = error as ClientStreamError;
      seen.endings.push(`${e.name} ${e.code} ${e.reason}: ${e.message}`);
      return `caught: ${e.message}`;
    }
  }
  /** Lets the stream's error escape. */
  async Rethrow(items: AsyncIterable<unknown>) {
    for await (const _ of items) {
      // items are not kept
    }
  }
  /** Reads nothing until the test opens the gate. */
  async Slow(items: AsyncIterable<unknown>) {
    seen.started.open();
    await seen.gate.promise;
    for await (const item of items) seen.slow.push(item);
    return seen.slow.length;
  }
  /** Takes the first item only, then returns. */
  async First(items: AsyncIterable<unknown>) {
    for await (const item of items) return item;
    return null;
  }
  /** Upload in, stream out. */
  async *Double(items: AsyncIterable<number>, signal: AbortSignal) {
    for await (const item of items) {
      if (signal.aborted) return;
      yield item * 2;
    }
  }
  /** Upload in, stream out; records when it ends. */
  async *Relay(id: string, items: AsyncIterable<unknown>, _signal: AbortSignal) {
    try {
      for await (const item of items) yield item;
    } finally {
      seen.endings.push(`relay ${id} ended`);
    }
  }
  /** Upload in, stream out, after an ordinary argument and with no signal parameter. */
  async *Prefix(prefix: string, items: AsyncIterable<string>) {
    for await (const item of items) yield `${prefix}${item}`;
  }
  Echo(value: unknown) {
    return value;
  }
}

/** Whether a promise is still pending after the settle time. */
export async function pendingAfterSettle(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  return !settled;
}
