/**
 * Records that each expire at a deadline, kept in memory: the local copy a session store driver holds.
 * Values are copied in and out, so neither the writer's nor a reader's buffer is shared with the store. An
 * expired record reads as absent (and is dropped then); `sweep` drops every expired one. There is no timer:
 * the owner decides when to sweep, and nothing here keeps the process alive.
 */
export class ExpiringRecords {
  /** A copy of each value and the time it expires (ms since the epoch). */
  readonly #records = new Map<string, { value: Uint8Array; deadline: number }>();

  /** How many records are held, expired ones not yet dropped included. */
  get size(): number {
    return this.#records.size;
  }

  /**
   * Stores a copy of `value` under `key` until `deadline` (ms since the epoch), replacing what was there.
   * A record whose deadline is not after the time of a read reads as absent.
   */
  put(key: string, value: Uint8Array, deadline: number): void {
    this.#records.set(key, { value: Uint8Array.from(value), deadline });
  }

  /**
   * A copy of the record under `key`, or `undefined` when there is none or it expired by `now` (ms since
   * the epoch; an expired record is dropped).
   */
  get(key: string, now: number = Date.now()): Uint8Array | undefined {
    const record = this.#records.get(key);
    if (!record) return undefined;
    if (record.deadline <= now) {
      this.#records.delete(key);
      return undefined;
    }
    return Uint8Array.from(record.value);
  }

  /** Removes the record under `key` (a missing one too, quietly). */
  delete(key: string): void {
    this.#records.delete(key);
  }

  /** Drops every record expired by `now` (ms since the epoch); returns how many were dropped. */
  sweep(now: number = Date.now()): number {
    let dropped = 0;
    for (const [key, record] of this.#records) {
      if (record.deadline <= now) {
        this.#records.delete(key);
        dropped++;
      }
    }
    return dropped;
  }
}

/** Bytes in front of a value stamped by {@link stampDeadline}: its deadline, a big-endian float64 (ms since the epoch). */
const DEADLINE_BYTES = 8;

/**
 * `value` with its deadline in front (`ttlMs` from `now`): what a session store whose broker cannot expire
 * single records keeps, so that a reader can tell an expired record (see {@link readDeadline}).
 */
export function stampDeadline(value: Uint8Array, ttlMs: number, now: number = Date.now()): Uint8Array {
  const data = new Uint8Array(DEADLINE_BYTES + value.byteLength);
  new DataView(data.buffer).setFloat64(0, now + ttlMs);
  data.set(value, DEADLINE_BYTES);
  return data;
}

/**
 * The deadline and the value (a view, not a copy) of bytes made by {@link stampDeadline}; `undefined` when
 * they are too short to hold a deadline.
 */
export function readDeadline(data: Uint8Array): { deadline: number; value: Uint8Array } | undefined {
  if (data.byteLength < DEADLINE_BYTES) return undefined;
  const deadline = new DataView(data.buffer, data.byteOffset, DEADLINE_BYTES).getFloat64(0);
  return { deadline, value: data.subarray(DEADLINE_BYTES) };
}
