import type { DriverCapabilities } from '../src/driver.js';
import { DriverBase } from '../src/driver-base.js';
import { BrokerError } from '../src/errors.js';

/**
 * A test driver on an in-test bus whose link can be cut (`down`: publishes fail, nothing is delivered,
 * state disconnected), frozen (`freeze`: publishes hang, nothing is delivered, state stays connected —
 * a broker stopped with SIGSTOP) or deaf (`deaf`: publishes work, deliveries to it are lost). Real brokers get the same faults in the fault tests.
 */
export class TestBus {
  readonly members = new Set<ControllableDriver>();
}

export class ControllableDriver extends DriverBase {
  readonly name = 'controllable';
  readonly capabilities: DriverCapabilities;
  #mode: 'up' | 'down' | 'frozen' | 'deaf' = 'up';
  /** Every channel this driver published to or subscribed to, for tests that check what reached the broker. */
  readonly touched = new Set<string>();
  #held: Array<() => void> = [];
  /** Deliveries to this driver lost while it was not up (down, frozen or deaf). */
  lost = 0;

  constructor(
    readonly bus: TestBus,
    options: { receiverCount?: boolean } = {},
  ) {
    super();
    this.capabilities = {
      receiverCount: options.receiverCount ?? true,
      durable: false,
      perChannelSubscriptions: true,
      sharded: false,
    };
  }

  down(): void {
    this.#mode = 'down';
    this.setState({ type: 'disconnected', error: new Error('link cut (test)') });
  }

  freeze(): void {
    this.#mode = 'frozen';
  }

  /** Publishes work, but what the broker sends this driver is lost (a black-holed subscriber link). */
  deaf(): void {
    this.#mode = 'deaf';
  }

  up(): void {
    this.#mode = 'up';
    this.setState({ type: 'connected' });
    for (const release of this.#held.splice(0)) release();
  }

  protected async doConnect(): Promise<void> {
    this.bus.members.add(this);
    this.setState({ type: 'connected' });
  }

  protected async doClose(): Promise<void> {
    this.bus.members.delete(this);
  }

  /** Whether `channel` is subscribed now. */
  isSubscribed(channel: string): boolean {
    return this.channels.has(channel);
  }

  protected doPublish(channel: string, payload: Uint8Array): Promise<number> {
    this.touched.add(channel);
    if (this.#mode === 'down') return Promise.reject(new BrokerError('link cut (test)'));
    const send = () => {
      let count = 0;
      for (const member of this.bus.members) {
        if (!member.channels.has(channel)) continue;
        count++;
        setImmediate(() => member.receive(channel, payload));
      }
      return count;
    };
    if (this.#mode === 'frozen') return new Promise((resolve) => this.#held.push(() => resolve(send())));
    return Promise.resolve(send());
  }

  /** Bytes the bus delivers; lost unless the link is up. */
  receive(channel: string, payload: Uint8Array): void {
    if (this.#mode === 'up') this.onMessage(channel, payload);
    else this.lost++;
  }

  /** Publishes bypassing the hub logic (to replay captured bytes). */
  raw(channel: string, payload: Uint8Array): Promise<number> {
    return this.doPublish(channel, payload);
  }

  protected async doSubscribe(channel: string): Promise<void> {
    this.touched.add(channel);
  }
  protected async doUnsubscribe(): Promise<void> {}
}
