import { type Driver, type DurableDriver, isDurableDriver } from '../driver.js';
import { BrokerError, OutboxFullError } from '../errors.js';
import { type BackoffOptions, backoffDelay } from './backoff.js';
import type { BackplaneEvent } from './events.js';
import { Outbox, type OutboxOptions } from './outbox.js';
import type { PublishMeter } from './publish-meter.js';

/** One publish: its bytes, whether it goes to the durable log, and its idempotency key there. */
interface Message {
  readonly channel: string;
  readonly payload: Uint8Array;
  readonly durable: boolean;
  readonly key?: string;
}

/** The outcome of an accepted publish (see `PublishLink.accept`). */
const ACCEPTED: Promise<void> = Promise.resolve();
function accepted(): void {}

/** Buffered messages a flush issues at once (see {@link PublishLink}). */
export const FLUSH_WINDOW = 1_000;

export interface PublishLinkOptions {
  /** Buffer publishes while the link is down, or `false` for plain at-most-once. @default {} (on, defaults) */
  outbox?: OutboxOptions | false;
  /** Retry delays for flushing after a failed publish. */
  retry?: BackoffOptions;
  /** Times the driver calls (`manager.measurements$`). @default undefined (not timed) */
  meter?: PublishMeter;
}

/**
 * Where the publisher's bytes go. While the link is up and nothing is buffered, straight to the driver.
 * While it is down, after a failed publish, or while older messages wait, into the bounded outbox, which
 * is flushed in order when the link is up again (FIFO per sender survives an outage). Without an outbox,
 * publishes go straight to the driver and its errors reach the caller.
 *
 * Order survives a publish that fails late (a durable publish waiting out its ack timeout while later ones
 * already failed fast): every publish is numbered when called, the outbox is kept in that order, and a
 * flush first waits for the direct publishes still in flight (drivers bound them), so a late failure is
 * retried before everything called after it. A durable retry carries the key it was first called with.
 *
 * Nothing waits for an earlier publish's outcome before the next one is issued: direct publishes go to the
 * driver at once, however many are in flight, and a flush issues up to {@link FLUSH_WINDOW} buffered
 * messages at once, in order, so a driver that pipelines (one socket write per turn) sends them together.
 * Those of a window that fail stay buffered, in order, for the next attempt; the others are done.
 */
export class PublishLink {
  readonly #driver: Driver;
  /** The driver's log, when it keeps one. */
  readonly #log: DurableDriver | undefined;
  readonly #outbox: Outbox | undefined;
  readonly #retry: BackoffOptions;
  readonly #meter: PublishMeter | undefined;
  readonly #emit: (event: BackplaneEvent) => void;
  readonly #now: () => number;
  #up = true;
  #flushing = false;
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #flushDelay: number;
  #flushTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Call order of the last publish. */
  #order = 0;
  /** Direct publishes not settled yet: a flush waits for them (one may fail and must go first). */
  #inflight = 0;
  /** The flush waiting for the direct publishes in flight to settle. */
  #whenSettled: (() => void) | undefined;
  /** Messages given up (dropped or refused) by the outbox since start. */
  dropped = 0;

  constructor(
    driver: Driver,
    options: PublishLinkOptions,
    emit: (event: BackplaneEvent) => void,
    now: () => number = Date.now,
  ) {
    this.#driver = driver;
    this.#log = isDurableDriver(driver) ? driver : undefined;
    this.#outbox = options.outbox === false ? undefined : new Outbox(options.outbox);
    this.#flushDelay = options.outbox === false ? 0 : (options.outbox?.flushDelay ?? 1_000);
    this.#retry = options.retry ?? {};
    this.#meter = options.meter;
    this.#emit = emit;
    this.#now = now;
  }

  /** Messages waiting in the outbox. */
  get buffered(): number {
    return this.#outbox?.size ?? 0;
  }

  /** Tells the link whether the broker is reachable (from the resilience pipeline). */
  setUp(up: boolean): void {
    this.#up = up;
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (!up) return;
    this.#attempt = 0;
    if (this.#flushDelay <= 0 || !this.#outbox || this.#outbox.size === 0) {
      void this.#flush();
      return;
    }
    // Give the other servers time to come back and resubscribe (see OutboxOptions.flushDelay).
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      if (this.#up) void this.#flush();
    }, this.#flushDelay);
    this.#flushTimer.unref();
  }

  /**
   * Publishes now, or buffers. Resolves with the receiver count when published directly, `undefined`
   * when buffered (nobody knows yet who will receive it).
   */
  publish(channel: string, payload: Uint8Array): Promise<number | undefined> {
    return this.#publishOrBuffer({ channel, payload, durable: false });
  }

  /**
   * Like `publish`, but the message also goes to the channel's durable log (durable drivers); `key` is
   * its idempotency key, passed to the driver on every attempt (see `Driver.publishDurable`).
   */
  publishDurable(channel: string, payload: Uint8Array, key?: string): Promise<number | undefined> {
    // Never buffered: no retry would succeed. The manager and the hub context refuse durable mode on such
    // a driver when they are made, so this is a caller's mistake.
    if (!this.#log) return Promise.reject(this.#noLog());
    return this.#publishOrBuffer({ channel, payload, durable: true, ...(key !== undefined && { key }) });
  }

  /**
   * Takes a publish whose receiver count nobody needs (a hub send): resolves as soon as the message is
   * accepted, that is issued to the driver in call order or buffered, without waiting for the broker's
   * reply. With an outbox, a failure after that is the outbox's: the message is buffered and retried in
   * order, and if the outbox has to give it up, an `overflow` event and `dropped` say so. Rejects only when
   * the message is refused now (an outbox full under the `reject` policy). Without an outbox nothing would
   * take a late failure, so this waits for the broker like `publish` and its errors reach the caller. On a
   * sharded driver (Redis Cluster), too: each channel is on its own shard there, so only waiting for the
   * reply keeps an awaited send ahead of the next one on another channel.
   *
   * This is what lets one sender's successive invocations leave in one socket write: the next one runs in
   * the same event-loop turn instead of one broker round trip later.
   */
  accept(channel: string, payload: Uint8Array, durable = false, key?: string): Promise<void> {
    if (durable && !this.#log) return Promise.reject(this.#noLog());
    const message: Message = { channel, payload, durable, ...(key !== undefined && { key }) };
    if (!this.#outbox || this.#driver.capabilities.sharded)
      return this.#publishOrBuffer(message).then(accepted);
    try {
      const direct = this.#publishOrBuffer(message, false);
      // A late refusal has been counted and reported as an overflow event already.
      direct.catch(accepted);
      return ACCEPTED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * With `confirm` (the default), the promise settles with the broker's reply; without it, a direct
   * publish's outcome is left to the returned promise while a refusal by the outbox throws synchronously.
   */
  #publishOrBuffer(message: Message, confirm = true): Promise<number | undefined> {
    try {
      const outbox = this.#outbox;
      if (!outbox) return this.#send(message);
      const order = ++this.#order;
      const at = this.#now();
      if (this.#up && outbox.size === 0 && !this.#flushing) {
        const sent = this.#send(message);
        this.#inflight++;
        return sent.then(this.#sentDirect, () => {
          this.#settledDirect();
          // The broker did not take it: keep it (in call order, ahead of anything called later) and
          // retry, instead of losing it.
          this.#buffer(message, order, at);
          this.#scheduleRetry();
          return undefined;
        });
      }
      this.#buffer(message, order, at);
      return Promise.resolve(undefined);
    } catch (error) {
      if (!confirm) throw error;
      return Promise.reject(error);
    }
  }

  readonly #sentDirect = (receivers: number | undefined): number | undefined => {
    this.#settledDirect();
    return receivers;
  };

  #settledDirect(): void {
    if (--this.#inflight > 0 || !this.#whenSettled) return;
    const resume = this.#whenSettled;
    this.#whenSettled = undefined;
    resume();
  }

  #send(message: Message): Promise<number | undefined> {
    const started = this.#meter?.start();
    const sent = this.#callDriver(message);
    return started === undefined ? sent : this.#meter!.end(started, message.channel, message.durable, sent);
  }

  #callDriver({ channel, payload, durable, key }: Message): Promise<number | undefined> {
    if (!durable) return this.#driver.publish(channel, payload);
    if (!this.#log) return Promise.reject(this.#noLog());
    return this.#log.publishDurable(channel, payload, key);
  }

  /** `#send`, with a synchronous throw as a rejection. */
  #trySend(message: Message): Promise<number | undefined> {
    try {
      return this.#send(message);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #noLog(): BrokerError {
    return new BrokerError(`The '${this.#driver.name}' driver keeps no durable log.`);
  }

  /** Publishes bypassing the outbox (liveness probes must test the real path). */
  publishDirect(channel: string, payload: Uint8Array): Promise<number | undefined> {
    return this.#driver.publish(channel, payload);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#flushTimer);
  }

  #buffer({ channel, payload, durable, key }: Message, order: number, at: number): void {
    const outbox = this.#outbox!;
    const result = outbox.push(channel, payload, at, durable, { order, ...(key !== undefined && { key }) });
    if (!result.accepted) {
      this.dropped++;
      this.#emit({ type: 'overflow', dropped: 1, policy: outbox.policy, reason: result.reason });
      throw new OutboxFullError(result.reason);
    }
    if (result.dropped > 0) {
      this.dropped += result.dropped;
      this.#emit({
        type: 'overflow',
        dropped: result.dropped,
        policy: outbox.policy,
        reason: result.reason ?? 'count',
      });
    }
  }

  async #flush(): Promise<void> {
    const outbox = this.#outbox;
    // Nothing buffered, nothing to put in order: a flush would only hold new publishes behind the ones in
    // flight (a goodbye sent while closing was held that way and never sent). One that fails is buffered
    // and schedules its own retry.
    if (!outbox || this.#flushing || this.#closed || outbox.size === 0) return;
    this.#flushing = true;
    let count = 0;
    try {
      // A direct publish still in flight may yet fail: it must be retried before what is buffered.
      while (this.#inflight > 0)
        await new Promise<void>((resolve) => {
          this.#whenSettled = resolve;
        });
      const expired = outbox.expire(this.#now());
      if (expired > 0) {
        this.dropped += expired;
        this.#emit({ type: 'overflow', dropped: expired, policy: outbox.policy, reason: 'age' });
      }
      while (this.#up && !this.#closed && outbox.size > 0) {
        // A window at once, in order; publishes called meanwhile are buffered behind it.
        const window = outbox.take(FLUSH_WINDOW);
        const outcomes = await Promise.allSettled(window.map((entry) => this.#trySend(entry)));
        const failed = window.filter((_, i) => outcomes[i]!.status === 'rejected');
        count += window.length - failed.length;
        if (failed.length === 0) continue;
        outbox.restore(failed);
        this.#scheduleRetry();
        break;
      }
    } finally {
      this.#flushing = false;
      if (count > 0) this.#emit({ type: 'flushed', count });
    }
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#retryTimer) return;
    const delay = backoffDelay(this.#attempt++, this.#retry);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#up && !this.#flushTimer) void this.#flush();
    }, delay);
    this.#retryTimer.unref();
  }
}
