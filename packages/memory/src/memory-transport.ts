import { TransportBase, type TransportCapabilities } from '@backplane/core';
import { type BusSubscriber, getDefaultBus, type MemoryBus } from './memory-bus.js';

export interface MemoryTransportOptions {
  /**
   * The bus shared by the managers that should see each other.
   * @default the process-wide bus
   */
  bus?: MemoryBus;
}

/**
 * The embedded default driver: moves bytes between managers in one process. Knows its receivers, keeps
 * no log (not durable), and is never disconnected until closed.
 */
export class MemoryTransport extends TransportBase {
  readonly name = 'memory';
  readonly capabilities: TransportCapabilities = {
    receiverCount: true,
    durable: false,
    perChannelSubscriptions: true,
    sharded: false,
  };
  readonly #bus: MemoryBus;
  readonly #subscriber: BusSubscriber = { deliver: (channel, payload) => this.onMessage(channel, payload) };

  constructor(options: MemoryTransportOptions = {}) {
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
}

/** Creates a memory transport on `options.bus` (or the process-wide bus). */
export function createMemoryTransport(options?: MemoryTransportOptions): MemoryTransport {
  return new MemoryTransport(options);
}
