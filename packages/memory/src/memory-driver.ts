import { ClosedError, DriverBase, type DriverCapabilities, type SessionStoreDriver } from '@backplane/core';
import { type BusSubscriber, getDefaultBus, type MemoryBus } from './memory-bus.js';

/** Options of `MemoryDriver`. */
export interface MemoryDriverOptions {
  /**
   * The bus shared by the managers that should see each other.
   * @default the process-wide bus
   */
  bus?: MemoryBus;
}

/**
 * The embedded default driver: moves bytes between managers in one process. Knows its receivers, keeps
 * no log (not durable), and is never disconnected until closed. Its session store is the bus's: every
 * manager on the bus reads the records the others write, each kept until its TTL is over.
 */
export class MemoryDriver extends DriverBase implements SessionStoreDriver {
  readonly name = 'memory';
  readonly capabilities: DriverCapabilities = {
    receiverCount: true,
    durable: false,
    perChannelSubscriptions: true,
    sharded: false,
  };
  readonly #bus: MemoryBus;
  readonly #subscriber: BusSubscriber = { deliver: (channel, payload) => this.onMessage(channel, payload) };

  constructor(options: MemoryDriverOptions = {}) {
    super();
    this.#bus = options.bus ?? getDefaultBus();
  }

  protected async doConnect(): Promise<void> {
    this.setState({ type: 'connected' });
  }

  protected async doClose(): Promise<void> {
    for (const channel of this.channels) this.#bus.unsubscribe(channel, this.#subscriber);
  }

  protected async doPublish(channel: string, payload: Uint8Array): Promise<number> {
    return this.#bus.publish(channel, payload);
  }

  protected async doSubscribe(channel: string): Promise<void> {
    this.#bus.subscribe(channel, this.#subscriber);
  }

  protected async doUnsubscribe(channel: string): Promise<void> {
    this.#bus.unsubscribe(channel, this.#subscriber);
  }

  /** Session store: keeps a copy of `value` on the bus for `ttlMs`. */
  async putRecord(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    this.#assertOpen();
    this.#bus.putRecord(key, value, ttlMs);
  }

  /** Session store: a copy of the record under `key`, or `undefined` (none, deleted, or expired). */
  async getRecord(key: string): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    return this.#bus.getRecord(key);
  }

  /** Session store: removes the record under `key`. */
  async deleteRecord(key: string): Promise<void> {
    this.#assertOpen();
    this.#bus.deleteRecord(key);
  }

  #assertOpen(): void {
    if (this.closed) throw new ClosedError(`Driver '${this.name}'`);
  }
}

/** Creates a memory driver on `options.bus` (or the process-wide bus). */
export function createMemoryDriver(options?: MemoryDriverOptions): MemoryDriver {
  return new MemoryDriver(options);
}
