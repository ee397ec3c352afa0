import { afterEach, describe, expect, it } from 'vitest';
import { DuplicateConnectionError } from '../src/errors.js';
import { HubLifetimeManager, type HubLifetimeManagerOptions } from '../src/index.js';
import { ControllableDriver, TestBus } from './controllable-driver.js';
import { json, quiet, recordingConnection, settle, until } from './recording-connection.js';

const open: HubLifetimeManager[] = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((m) => m.close()));
});

async function managerOn(bus: TestBus, options: Partial<HubLifetimeManagerOptions> = {}) {
  const driver = new ControllableDriver(bus);
  const manager = new HubLifetimeManager({
    driver,
    hub: 'c',
    protocols: [json],
    logger: quiet,
    liveness: false,
    ...options,
  });
  open.push(manager);
  await manager.start();
  return { manager, driver };
}

describe('duplicate connection ids', () => {
  it('connections - a second connection object under a live id is refused; the first keeps every route', async () => {
    const bus = new TestBus();
    const { manager: m1 } = await managerOn(bus);
    const { manager: m2 } = await managerOn(bus);
    const victim = recordingConnection(m1.createConnectionId(), 'alice');
    await m1.onConnected(victim);
    await m1.addToGroup(victim.connectionId, 'room');

    // A forged token carrying the victim's id: same id, another connection object, another user.
    const attacker = recordingConnection(victim.connectionId, 'mallory');
    const refused = await m1.onConnected(attacker).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(DuplicateConnectionError);
    expect(refused).toMatchObject({ code: 'ERR_DUPLICATE_CONNECTION', connectionId: victim.connectionId });
    expect(m1.connectionCount).toBe(1);

    await m1.sendConnection(victim.connectionId, 'Say', ['local connection']);
    await m1.sendGroup('room', 'Say', ['local group']);
    await m1.sendUser('alice', 'Say', ['local user']);
    await m2.sendConnection(victim.connectionId, 'Say', ['remote connection']);
    await m2.sendGroup('room', 'Say', ['remote group']);
    await m2.sendUser('alice', 'Say', ['remote user']);
    await m2.sendUser('mallory', 'Say', ['attacker user']);
    await until(() => victim.words.length >= 6, 'six messages to the victim');
    await settle();
    expect(victim.words).toEqual([
      'local connection',
      'local group',
      'local user',
      'remote connection',
      'remote group',
      'remote user',
    ]);
    expect(attacker.words).toEqual([]);

    // The refused connection goes away: its disconnect must not unregister the victim.
    await m1.onDisconnected(attacker);
    expect(m1.connectionCount).toBe(1);
    await m2.sendConnection(victim.connectionId, 'Say', ['after']);
    await m2.sendGroup('room', 'Say', ['group after']);
    await until(() => victim.words.length >= 8, 'two more messages to the victim');
    expect(victim.words.slice(6)).toEqual(['after', 'group after']);
    expect(attacker.words).toEqual([]);
  });

  it('connections - onConnected twice with the same object keeps its groups, and disconnect releases them', async () => {
    const bus = new TestBus();
    const { manager, driver } = await managerOn(bus);
    const c = recordingConnection(manager.createConnectionId(), 'bob');
    await manager.onConnected(c);
    await manager.addToGroup(c.connectionId, 'room');
    await manager.onConnected(c);
    expect(manager.connectionCount).toBe(1);
    await manager.sendGroup('room', 'Say', ['still a member']);
    expect(c.words).toEqual(['still a member']);
    await manager.onDisconnected(c);
    expect(driver.isSubscribed(manager.channels.group('room'))).toBe(false);
    expect(driver.isSubscribed(manager.channels.user('bob'))).toBe(false);
  });
});
