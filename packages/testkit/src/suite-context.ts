import {
  type Driver,
  HubLifetimeManager,
  type HubLifetimeManagerOptions,
  type Logger,
} from '@backplane/core';
import { expect } from 'vitest';
import type { DriverHarness } from './driver-harness.js';
import { TestClient, type TestClientOptions } from './test-client.js';

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** What every conformance case gets: fresh managers on a prefix unique to the running test. */
export interface SuiteContext {
  readonly harness: DriverHarness;
  /** Unique per test, so cases never see each other's traffic on a shared broker. */
  readonly prefix: string;
  /** A started manager (one simulated server), closed after the test. */
  manager(options?: Partial<HubLifetimeManagerOptions>): Promise<HubLifetimeManager>;
  /** A connected driver for raw broker access, closed after the test. */
  rawDriver(): Promise<Driver>;
  /** Closes `closable` after the test (a hub context, a driver the test made). */
  closeLater(closable: { close(): Promise<void> }): void;
  /** A test client connected to `manager` with an id minted by `manager`. */
  connect(manager: HubLifetimeManager, options?: Partial<TestClientOptions>): Promise<TestClient>;
}

export class SuiteState implements SuiteContext {
  harness!: DriverHarness;
  prefix = '';
  readonly #closables: Array<{ close(): Promise<void> }> = [];
  #count = 0;
  readonly #run = Math.random().toString(36).slice(2, 8);

  nextTest(): void {
    this.prefix = `conf-${this.#run}-${++this.#count}:`;
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled(this.#closables.splice(0).map((c) => c.close()));
  }

  async manager(options: Partial<HubLifetimeManagerOptions> = {}): Promise<HubLifetimeManager> {
    const manager = new HubLifetimeManager({
      driver: this.harness.createDriver(),
      prefix: this.prefix,
      hub: 'conformance',
      ackTimeout: 3_000,
      logger: silentLogger,
      ...options,
    });
    this.#closables.push(manager);
    await manager.start();
    return manager;
  }

  closeLater(closable: { close(): Promise<void> }): void {
    this.#closables.push(closable);
  }

  async rawDriver(): Promise<Driver> {
    const driver = this.harness.createDriver();
    this.#closables.push(driver);
    await driver.connect();
    return driver;
  }

  async connect(manager: HubLifetimeManager, options: Partial<TestClientOptions> = {}): Promise<TestClient> {
    const client = new TestClient({ connectionId: manager.createConnectionId(), ...options });
    await manager.onConnected(client);
    return client;
  }
}

/** SignalR's AssertMessageAsync: the next message is the invocation `Hello("World")`. */
export async function expectHello(client: TestClient, word = 'World'): Promise<void> {
  const message = await client.readInvocation();
  expect(message.target).toBe('Hello');
  expect(message.arguments).toEqual([word]);
}

/** Resolves `promise`'s rejection for assertions: fails if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}
