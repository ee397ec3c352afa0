import type { LocalConnection } from '@backplane/core';
import {
  type HubMessage,
  type HubProtocol,
  type InvocationMessage,
  JsonHubProtocol,
  MessageType,
} from '@backplane/hub-protocol';

/** How long a test waits for an expected message, in ms. */
export const DEFAULT_TIMEOUT_MS = 5_000;
/** How long a negative check ("receives nothing") waits before concluding, in ms. */
export const SETTLE_MS = 150;

/** Options of `TestClient`. */
export interface TestClientOptions {
  connectionId: string;
  userIdentifier?: string;
  /** @default JSON */
  protocol?: HubProtocol;
  /** Every write throws (SignalR's mock connection), to prove one bad connection harms nobody else. */
  failWrites?: boolean;
}

/**
 * A `LocalConnection` that parses what it is sent, like SignalR's `TestClient`: `read()` waits for the next
 * message, `tryRead()` returns one already received or `undefined`, `expectNothing()` waits
 * {@link SETTLE_MS} and asserts silence.
 */
export class TestClient implements LocalConnection {
  readonly connectionId: string;
  readonly userIdentifier: string | undefined;
  readonly protocol: HubProtocol;
  readonly #failWrites: boolean;
  readonly #received: HubMessage[] = [];
  #waiter: (() => void) | undefined;

  constructor(options: TestClientOptions) {
    this.connectionId = options.connectionId;
    this.userIdentifier = options.userIdentifier;
    this.protocol = options.protocol ?? new JsonHubProtocol();
    this.#failWrites = options.failWrites ?? false;
  }

  write(frame: Uint8Array): void {
    if (this.#failWrites) throw new Error(`write to ${this.connectionId} failed (test)`);
    this.#received.push(...this.protocol.parseMessages(frame));
    this.#waiter?.();
  }

  /** The next message, waiting up to `timeoutMs`. */
  async read(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<HubMessage> {
    const deadline = Date.now() + timeoutMs;
    while (this.#received.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.connectionId}: no message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = undefined;
    }
    return this.#received.shift()!;
  }

  /** The next invocation; fails on any other message type. */
  async readInvocation(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<InvocationMessage> {
    const message = await this.read(timeoutMs);
    if (message.type !== MessageType.Invocation)
      throw new Error(`expected an invocation, got type ${message.type}`);
    return message;
  }

  /** A message already received, or `undefined` (never waits). */
  tryRead(): HubMessage | undefined {
    return this.#received.shift();
  }

  /** Waits `settleMs`, then fails if anything arrived. */
  async expectNothing(settleMs = SETTLE_MS): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const extra = this.tryRead();
    if (extra) throw new Error(`${this.connectionId}: expected no message, got ${JSON.stringify(extra)}`);
  }
}
