import { afterEach, describe, expect, it, vi } from 'vitest';
import { ENVELOPE_VERSION } from '../src/envelope.js';
import { encodeEnvelope } from '../src/envelope-codec.js';
import { HubLifetimeManager, type HubLifetimeManagerOptions } from '../src/index.js';
import { ControllableDriver, TestBus } from './controllable-driver.js';
import { json, quiet, recordingConnection, settle, until } from './recording-connection.js';

const open: HubLifetimeManager[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.allSettled(open.splice(0).map((m) => m.close()));
});

function managerOn(bus: TestBus, options: Partial<HubLifetimeManagerOptions> = {}, receiverCount = true) {
  const driver = new ControllableDriver(bus, { receiverCount });
  const manager = new HubLifetimeManager({
    driver,
    hub: 'o',
    protocols: [json],
    logger: quiet,
    liveness: false,
    ...options,
  });
  open.push(manager);
  return { manager, driver };
}

/** A `sendGroups` copy as another server (or a forger) would publish it. */
function groupsCopy(origin: string, epoch: string, seq: number, batch: number, word: string): Uint8Array {
  return encodeEnvelope({
    v: ENVELOPE_VERSION,
    origin,
    epoch,
    seq,
    kind: 'invocation',
    payloads: new Map([['json', json.writeMessage({ type: 1, target: 'Say', arguments: [word] })]]),
    groups: ['g1', 'g2'],
    batch,
  });
}

describe('per-origin state', () => {
  it('origins - with many distinct senders the tracked count stays at maxTrackedOrigins', async () => {
    const bus = new TestBus();
    const { manager } = managerOn(bus, { maxTrackedOrigins: 50 });
    const { manager: peer } = managerOn(bus);
    await Promise.all([manager.start(), peer.start()]);
    const c = recordingConnection(manager.createConnectionId());
    await manager.onConnected(c);
    await manager.addToGroup(c.connectionId, 'g1');
    await manager.addToGroup(c.connectionId, 'g2');
    const raw = new ControllableDriver(bus);
    await raw.connect();
    const forged = 2_000;
    for (let i = 0; i < forged; i++)
      await raw.raw(manager.channels.group('g1'), groupsCopy(`forged-${i}`, 'e', 1, 1, 'forged'));
    await until(() => c.words.length === forged, `${forged} forged messages`);
    expect(manager.stats.trackedOrigins).toBe(50);
    // A real sender is still de-duplicated across its copies.
    await peer.sendGroups(['g1', 'g2'], 'Say', ['real']);
    await until(() => c.words.at(-1) === 'real', 'the real message');
    await settle();
    expect(c.words.filter((w) => w === 'real')).toHaveLength(1);
    expect(manager.stats.trackedOrigins).toBeLessThanOrEqual(50);
    await raw.close();
  });

  it('origins - a server that says goodbye is forgotten', async () => {
    const bus = new TestBus();
    const { manager: m1 } = managerOn(bus, { presenceInterval: 60_000 }, false);
    const { manager: m2 } = managerOn(bus, { presenceInterval: 60_000 }, false);
    await Promise.all([m1.start(), m2.start()]);
    const c = recordingConnection(m1.createConnectionId());
    await m1.onConnected(c);
    await m2.sendAll('Say', ['hello']);
    await until(() => c.words.length === 1, 'the broadcast');
    expect(m1.stats.trackedOrigins).toBe(1);
    await m2.close();
    await until(() => m1.stats.trackedOrigins === 0, "the departed server's state to go");
  });

  it('origins - a server silent 10 minutes past its presence timeout is forgotten', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] });
    const bus = new TestBus();
    const { manager: m1 } = managerOn(bus, { presenceInterval: 60_000 }, false);
    const { manager: m2, driver: t2 } = managerOn(bus, { presenceInterval: 60_000 }, false);
    await Promise.all([m1.start(), m2.start()]);
    const c = recordingConnection(m1.createConnectionId());
    await m1.onConnected(c);
    await m2.sendAll('Say', ['hello']);
    await until(() => c.words.length === 1, 'the broadcast');
    expect(m1.stats.trackedOrigins).toBe(1);
    t2.down(); // dies without a goodbye
    vi.advanceTimersByTime(3 * 60_000 + 5 * 60_000);
    expect(m1.stats.trackedOrigins).toBe(1); // presumed gone, but its ordering state is kept a while
    vi.advanceTimersByTime(6 * 60_000);
    expect(m1.stats.trackedOrigins).toBe(0);
  });
});
