/** What a client stream tells its connection about its buffer (the dispatcher pauses and resumes reading). */
export interface StreamFlow {
  /** The buffer holds `capacity` items: stop reading the client. */
  full(): void;
  /** The buffer is down to half (or the stream ended): the client may be read again. */
  drained(): void;
}

type Waiter = {
  resolve(result: IteratorResult<unknown>): void;
  reject(error: Error): void;
};

const DONE: IteratorResult<unknown> = Object.freeze({ done: true, value: undefined });

/**
 * One client-to-server stream (an id of an invocation's `streamIds`), as a hub method reads it: an async
 * iterable of the items the client sends as `StreamItem` messages, in order, that ends when the client
 * sends the stream's `Completion` (or throws when the completion carries an error, or when the connection
 * closes). It holds at most `capacity` items the method has not taken: when it is full the dispatcher stops
 * reading the client (see {@link StreamFlow}), so a client that sends faster than the method reads is held
 * back by its own buffers. A method that stops iterating (`break`, `return`) drops what is buffered and
 * what comes later.
 */
export class ClientStream implements AsyncIterableIterator<unknown> {
  /** Items the method has not taken yet (at most `capacity`). */
  readonly #items: unknown[] = [];
  /** `next()` calls waiting for an item (a `for await` has one at a time). */
  #waiters: Waiter[] | undefined;
  #ended = false;
  /** The error the next `next()` throws (the client's, or the connection's end). */
  #error: Error | undefined;
  /** The flow was told the buffer is full and not yet that it drained. */
  #full = false;

  constructor(
    readonly id: string,
    readonly capacity: number,
    readonly flow: StreamFlow,
  ) {}

  /** An item from the client (ignored once the stream ended). */
  push(item: unknown): void {
    if (this.#ended) return;
    const waiter = this.#waiters?.shift();
    if (waiter) {
      waiter.resolve({ done: false, value: item });
      return;
    }
    this.#items.push(item);
    if (!this.#full && this.#items.length >= this.capacity) {
      this.#full = true;
      this.flow.full();
    }
  }

  /**
   * The stream ends: the method reads what is buffered, then the end (or `error`, thrown once). Later items
   * are ignored. Idempotent: only the first end counts.
   */
  complete(error?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    const waiters = this.#waiters;
    this.#waiters = undefined;
    if (waiters && waiters.length > 0) {
      // Waiters exist only while nothing is buffered.
      const first = waiters.shift()!;
      if (error) first.reject(error);
      else first.resolve(DONE);
      for (const waiter of waiters) waiter.resolve(DONE);
    } else {
      this.#error = error;
    }
    this.#release();
  }

  next(): Promise<IteratorResult<unknown>> {
    const items = this.#items;
    if (items.length > 0) {
      const value = items.shift();
      if (this.#full && items.length <= this.capacity >> 1) this.#release();
      return Promise.resolve({ done: false, value });
    }
    const error = this.#error;
    if (error) {
      this.#error = undefined;
      return Promise.reject(error);
    }
    if (this.#ended) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => {
      this.#waiters ??= [];
      this.#waiters.push({ resolve, reject });
    });
  }

  /** The method stopped iterating: what is buffered and what comes later is dropped. */
  return(): Promise<IteratorResult<unknown>> {
    this.#items.length = 0;
    this.#error = undefined;
    this.complete();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #release(): void {
    if (!this.#full) return;
    this.#full = false;
    this.flow.drained();
  }
}
