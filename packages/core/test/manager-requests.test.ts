import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ENVELOPE_VERSION } from '../src/envelope.js';
import {
  AckTimeoutError,
  ConnectionNotFoundError,
  HubLifetimeManager,
  type HubLifetimeManagerOptions,
  RequestFailedError,
} from '../src/index.js';
import { ControllableDriver, TestBus } from './controllable-driver.js';
import { json, quiet, until } from './recording-connection.js';

const open: HubLifetimeManager[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.allSettled(open.splice(0).map((m) => m.close()));
});

function managerOn(bus: TestBus, options: Partial<HubLifetimeManagerOptions> = {}) {
  const driver = new ControllableDriver(bus);
  const manager = new HubLifetimeManager({
    driver,
    hub: 'r',
    protocols: [json],
    logger: quiet,
    liveness: false,
    ...options,
  });
  open.push(manager);
  return { manager, driver };
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe('requests about connections', () => {
  it('requests - the owner of a connection answers a request from another server, in order', async () => {
    const bus = new TestBus();
    const { manager: asker } = managerOn(bus);
    const { manager: owner } = managerOn(bus);
    await Promise.all([asker.start(), owner.start()]);
    const seen: string[] = [];
    owner.setRequestHandler(async ({ connectionId, payload, origin }) => {
      seen.push(text(payload));
      return bytes(`${connectionId === id ? 'mine' : 'other'}:${text(payload)}:${origin === asker.serverId}`);
    });
    const id = owner.createConnectionId();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => asker.request(id, bytes(`q${i}`), { timeout: 1_000 })),
    );
    expect(answers.map(text)).toEqual(Array.from({ length: 20 }, (_, i) => `mine:q${i}:true`));
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `q${i}`));
    expect(asker.stats).toMatchObject({ requestsSent: 20, requestFailures: 0, requestsAnswered: 0 });
    expect(owner.stats).toMatchObject({ requestsSent: 0, requestFailures: 0, requestsAnswered: 20 });
  });

  it('requests - a request about a connection of this server is answered by its own handler', async () => {
    const { manager } = managerOn(new TestBus());
    manager.setRequestHandler(async ({ origin, payload }) => bytes(`${origin}:${text(payload)}`));
    const answer = await manager.request(manager.createConnectionId(), bytes('x'), { timeout: 1_000 });
    expect(text(answer)).toBe('local:x');
  });

  it('requests - a connection the owner does not hold, or an id naming no live server, is not found', async () => {
    const bus = new TestBus();
    const { manager: asker } = managerOn(bus);
    const { manager: owner } = managerOn(bus);
    await Promise.all([asker.start(), owner.start()]);
    owner.setRequestHandler(async () => undefined);
    await expect(asker.request(owner.createConnectionId(), bytes('x'), { timeout: 1_000 })).rejects.toThrow(
      ConnectionNotFoundError,
    );
    await expect(asker.request('not-an-owned-id', bytes('x'), { timeout: 1_000 })).rejects.toThrow(
      ConnectionNotFoundError,
    );
    const gone = `${'a'.repeat(22)}.node-gone-12345678`;
    await expect(asker.request(gone, bytes('x'), { timeout: 1_000 })).rejects.toThrow(
      ConnectionNotFoundError,
    );
    expect(asker.stats.requestFailures).toBe(3);
  });

  it('requests - an owner at its maximum of requests answers busy; its handler failing is an error', async () => {
    const bus = new TestBus();
    const { manager: asker } = managerOn(bus);
    const { manager: owner } = managerOn(bus, { maxPendingRequests: 1 });
    await Promise.all([asker.start(), owner.start()]);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    owner.setRequestHandler(async ({ payload }) => {
      if (text(payload) === 'fail') throw new Error('handler failed (test)');
      await held;
      return bytes('done');
    });
    const id = owner.createConnectionId();
    const first = asker.request(id, bytes('hold'), { timeout: 5_000 });
    const second = asker.request(id, bytes('hold'), { timeout: 5_000 });
    await expect(second).rejects.toMatchObject({ reason: 'busy' });
    release();
    expect(text(await first)).toBe('done');
    await expect(asker.request(id, bytes('fail'), { timeout: 1_000 })).rejects.toThrow(RequestFailedError);
  });

  it('requests - the handler is aborted once the request times out; the asker times out after its grace', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const bus = new TestBus();
    const { manager: asker, driver } = managerOn(bus);
    const { manager: owner } = managerOn(bus);
    await Promise.all([asker.start(), owner.start()]);
    let aborted = false;
    owner.setRequestHandler(
      ({ signal }) =>
        new Promise((resolve) =>
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve(bytes('late'));
          }),
        ),
    );
    const id = owner.createConnectionId();
    driver.deaf(); // the owner's reply never reaches the asker
    const answer = asker.request(id, bytes('x'), { timeout: 1_000 });
    answer.catch(() => {});
    await vi.advanceTimersByTimeAsync(1_000);
    expect(aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(5_000);
    await expect(answer).rejects.toThrow(AckTimeoutError);
  });

  it('requests - a request waiting on a server that leaves fails as not found before its deadline (presence)', async () => {
    const bus = new TestBus();
    const presence = { presenceInterval: 50 };
    const asker = new HubLifetimeManager({
      driver: new ControllableDriver(bus, { receiverCount: false }),
      hub: 'r',
      protocols: [json],
      logger: quiet,
      liveness: false,
      ...presence,
    });
    const owner = new HubLifetimeManager({
      driver: new ControllableDriver(bus, { receiverCount: false }),
      hub: 'r',
      protocols: [json],
      logger: quiet,
      liveness: false,
      ...presence,
    });
    open.push(asker, owner);
    await Promise.all([asker.start(), owner.start()]);
    let arrived = false;
    owner.setRequestHandler(() => {
      arrived = true;
      return new Promise(() => {}); // never answers
    });
    const answer = asker.request(owner.createConnectionId(), bytes('x'), { timeout: 60_000 });
    answer.catch(() => {});
    await until(() => arrived, 'the request reached the owner');
    await owner.close(); // says goodbye on the presence channel
    await expect(answer).rejects.toThrow(ConnectionNotFoundError);
  });

  it('requests - a malformed request on an inbox is dropped and counted', async () => {
    const bus = new TestBus();
    const { manager: owner } = managerOn(bus);
    const { driver: forger } = managerOn(bus);
    await owner.start();
    await forger.connect();
    let called = false;
    owner.setRequestHandler(async () => {
      called = true;
      return bytes('x');
    });
    // A request whose payload is text, not binary.
    const garbage = new Packr({ useRecords: false }).pack([
      ENVELOPE_VERSION,
      'forger',
      'e',
      1,
      7,
      1,
      owner.createConnectionId(),
      1_000,
      'x',
    ]);
    await forger.publish(owner.channels.server(owner.serverId), garbage);
    await until(() => owner.stats.malformed >= 1, 'the malformed request counted');
    expect(called).toBe(false);
  });
});
