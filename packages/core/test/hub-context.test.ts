import type { InvocationMessage } from '@backplane/hub-protocol';
import { JsonHubProtocol } from '@backplane/hub-protocol';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { HubContext } from '../src/hub-context.js';
import { HubLifetimeManager } from '../src/hub-lifetime-manager.js';
import type { LocalConnection } from '../src/local-connection.js';
import { ControllableDriver, TestBus } from './controllable-driver.js';

const json = new JsonHubProtocol();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const WAIT_MS = 5_000;

/** Records the first argument of every invocation; `next()` waits for one with a deadline. */
class Recorder implements LocalConnection {
  readonly protocol = json;
  readonly words: string[] = [];
  #waiter: (() => void) | undefined;
  constructor(readonly connectionId: string) {}
  write(frame: Uint8Array): void {
    for (const m of json.parseMessages(frame)) this.words.push(String((m as InvocationMessage).arguments[0]));
    this.#waiter?.();
  }
  async waitFor(count: number): Promise<string[]> {
    const deadline = Date.now() + WAIT_MS;
    while (this.words.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`got ${this.words.length}/${count}: ${this.words.join(',')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.words;
  }
}

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((o) => o.close()));
});

describe('hub context', () => {
  it('hub context - a send while the broker is down is buffered and flushed in order when it is back', async () => {
    const bus = new TestBus();
    const manager = new HubLifetimeManager({
      driver: new ControllableDriver(bus),
      hub: 'c',
      protocols: [json],
      logger: quiet,
      liveness: false,
    });
    const driver = new ControllableDriver(bus);
    const context = new HubContext({ driver, hub: 'c', protocols: [json], outbox: { flushDelay: 0 } });
    open.push(manager, context);
    await manager.start();
    const client = new Recorder(manager.createConnectionId());
    await manager.onConnected(client);
    await context.sendAll('Say', ['a']);
    await client.waitFor(1);
    driver.down();
    await context.sendAll('Say', ['b']);
    await context.sendAll('Say', ['c']);
    expect(context.stats.buffered).toBe(2);
    const flushed = firstValueFrom(
      context.events$.pipe(
        filter((e) => e.type === 'flushed'),
        timeout(WAIT_MS),
      ),
    );
    driver.up();
    expect(await flushed).toMatchObject({ count: 2 });
    expect(await client.waitFor(3)).toEqual(['a', 'b', 'c']);
    expect(manager.stats.gaps).toBe(0);
  });

  it('hub context - durable mode on a driver without a log is refused at construction', () => {
    expect(() => new HubContext({ driver: new ControllableDriver(new TestBus()), durable: true })).toThrow(
      InvalidArgumentError,
    );
  });
});
