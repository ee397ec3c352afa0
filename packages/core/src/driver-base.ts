import { BehaviorSubject, distinctUntilChanged, type Observable } from 'rxjs';
import type { Driver, DriverCapabilities, DriverState, MessageHandler } from './driver.js';
import { ClosedError } from './errors.js';

const noHandler: MessageHandler = () => {};

/**
 * The base every driver extends. A driver:
 *
 * - implements {@link DriverBase#doConnect}, {@link DriverBase#doClose}, {@link DriverBase#doPublish},
 *   {@link DriverBase#doSubscribe} and {@link DriverBase#doUnsubscribe} (they only move bytes);
 * - calls {@link DriverBase#onMessage} for every message the broker delivers, and
 *   {@link DriverBase#setState} when its link changes;
 * - may read {@link DriverBase#channels} to resubscribe after a reconnect.
 *
 * The base keeps the set of subscribed channels, the state stream and the close guard.
 */
export abstract class DriverBase implements Driver {
  abstract readonly name: string;
  abstract readonly capabilities: DriverCapabilities;

  readonly #state = new BehaviorSubject<DriverState>({ type: 'connecting' });
  readonly #channels = new Set<string>();
  #handler: MessageHandler = noHandler;
  #closed = false;

  readonly state$: Observable<DriverState> = this.#state.pipe(
    distinctUntilChanged((a, b) => a.type === b.type),
  );

  get state(): DriverState {
    return this.#state.value;
  }

  /** Channels currently subscribed (what a reconnect must restore). */
  protected get channels(): ReadonlySet<string> {
    return this.#channels;
  }

  protected get closed(): boolean {
    return this.#closed;
  }

  protected abstract doConnect(): Promise<void>;
  protected abstract doClose(): Promise<void>;
  protected abstract doPublish(channel: string, payload: Uint8Array): Promise<number | undefined>;
  protected abstract doSubscribe(channel: string): Promise<void>;
  protected abstract doUnsubscribe(channel: string): Promise<void>;

  async connect(): Promise<void> {
    this.#assertOpen();
    await this.doConnect();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.doClose();
    } finally {
      this.#channels.clear();
      this.setState({ type: 'closed' });
      this.#state.complete();
    }
  }

  publish(channel: string, payload: Uint8Array): Promise<number | undefined> {
    if (this.#closed) return Promise.reject(new ClosedError(`Driver '${this.name}'`));
    return this.doPublish(channel, payload);
  }

  async subscribe(channel: string): Promise<void> {
    this.#assertOpen();
    if (this.#channels.has(channel)) return;
    this.#channels.add(channel);
    try {
      await this.doSubscribe(channel);
    } catch (err) {
      this.#channels.delete(channel);
      throw err;
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    if (this.#closed || !this.#channels.delete(channel)) return;
    await this.doUnsubscribe(channel);
  }

  setMessageHandler(handler: MessageHandler): void {
    this.#handler = handler;
  }

  /** Drivers call this for each delivered message. Messages on channels no longer subscribed are dropped. */
  protected onMessage(channel: string, payload: Uint8Array, position?: string): void {
    if (!this.#channels.has(channel)) return;
    this.#handler(channel, payload, position);
  }

  /** Drivers call this when their link changes. After `close()` only `closed` is accepted. */
  protected setState(state: DriverState): void {
    if (this.#state.closed) return;
    if (this.#closed && state.type !== 'closed') return;
    this.#state.next(state);
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`Driver '${this.name}'`);
  }
}
