import { afterEach, describe, expect, it } from 'vitest';
import { LimitExceededError } from '../src/errors.js';
import { HubContext } from '../src/hub-context.js';
import { HubLifetimeManager, type HubLifetimeManagerOptions } from '../src/index.js';
import { ControllableDriver, TestBus } from './controllable-driver.js';
import { json, quiet, recordingConnection } from './recording-connection.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((m) => m.close()));
});

async function managerOn(bus: TestBus, options: Partial<HubLifetimeManagerOptions> = {}) {
  const driver = new ControllableDriver(bus);
  const manager = new HubLifetimeManager({
    driver,
    hub: 'l',
    protocols: [json],
    logger: quiet,
    liveness: false,
    ackTimeout: 2_000,
    ...options,
  });
  open.push(manager);
  await manager.start();
  return { manager, driver };
}

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => 'resolved',
    (error: unknown) => error,
  );
}

describe('limits', () => {
  it('limits - group names over maxGroupNameLength are refused on every route and never reach the broker', async () => {
    const bus = new TestBus();
    const { manager: m1, driver: t1 } = await managerOn(bus, { maxGroupNameLength: 8 });
    const { manager: m2, driver: t2 } = await managerOn(bus, { maxGroupNameLength: 8 });
    const c = recordingConnection(m1.createConnectionId());
    await m1.onConnected(c);
    const long = 'g'.repeat(9);
    for (const m of [m1, m2]) {
      for (const attempt of [m.addToGroup(c.connectionId, long), m.removeFromGroup(c.connectionId, long)])
        expect(await refusal(attempt)).toMatchObject({
          name: 'LimitExceededError',
          code: 'ERR_LIMIT_EXCEEDED',
          limit: 'maxGroupNameLength',
          max: 8,
        });
      expect(() => m.sendGroup(long, 'Say', ['x'])).toThrow(LimitExceededError);
      expect(() => m.sendGroupExcept(long, 'Say', ['x'], [])).toThrow(LimitExceededError);
      expect(() => m.sendGroups(['ok', long], 'Say', ['x'])).toThrow(LimitExceededError);
    }
    await m2.addToGroup(c.connectionId, 'g'.repeat(8));
    await m2.sendGroup('g'.repeat(8), 'Say', ['at the limit']);
    for (const t of [t1, t2]) for (const channel of t.touched) expect(channel).not.toContain(long);
    const hub = new HubContext({
      driver: new ControllableDriver(bus),
      hub: 'l',
      maxGroupNameLength: 8,
    });
    open.push(hub);
    expect(await refusal(hub.sendGroup(long, 'Say', ['x']))).toBeInstanceOf(LimitExceededError);
    expect(await refusal(hub.sendGroups(['ok', long], 'Say', ['x']))).toBeInstanceOf(LimitExceededError);
  });

  it('limits - a group command naming an over-long group is refused by the owner too', async () => {
    const bus = new TestBus();
    const { manager: owner } = await managerOn(bus, { maxGroupNameLength: 8 });
    const { manager: caller } = await managerOn(bus, { maxGroupNameLength: 64 });
    const c = recordingConnection(owner.createConnectionId());
    await owner.onConnected(c);
    const error = await refusal(caller.addToGroup(c.connectionId, 'g'.repeat(9)));
    expect(error).toMatchObject({ code: 'ERR_LIMIT_EXCEEDED', limit: 'maxGroupNameLength', max: 8 });
  });

  it('limits - user ids over maxUserIdLength are refused at onConnected and in sendUser(s)', async () => {
    const bus = new TestBus();
    const { manager, driver } = await managerOn(bus, { maxUserIdLength: 4 });
    const long = 'u'.repeat(5);
    const c = recordingConnection(manager.createConnectionId(), long);
    expect(await refusal(manager.onConnected(c))).toMatchObject({
      code: 'ERR_LIMIT_EXCEEDED',
      limit: 'maxUserIdLength',
      max: 4,
    });
    expect(manager.connectionCount).toBe(0);
    expect(() => manager.sendUser(long, 'Say', ['x'])).toThrow(LimitExceededError);
    expect(() => manager.sendUsers(['ok', long], 'Say', ['x'])).toThrow(LimitExceededError);
    await manager.onConnected(recordingConnection(manager.createConnectionId(), 'u'.repeat(4)));
    for (const channel of driver.touched) expect(channel).not.toContain(long);
    const hub = new HubContext({ driver: new ControllableDriver(bus), hub: 'l', maxUserIdLength: 4 });
    open.push(hub);
    expect(await refusal(hub.sendUsers(['ok', long], 'Say', ['x']))).toBeInstanceOf(LimitExceededError);
  });

  it('limits - a connection joins at most maxGroupsPerConnection groups, whichever server asks', async () => {
    const bus = new TestBus();
    const { manager: owner, driver } = await managerOn(bus, { maxGroupsPerConnection: 3 });
    const { manager: other } = await managerOn(bus);
    const c = recordingConnection(owner.createConnectionId());
    await owner.onConnected(c);
    for (const group of ['a', 'b', 'c']) await owner.addToGroup(c.connectionId, group);
    await owner.addToGroup(c.connectionId, 'a'); // a member already: no new group
    expect(await refusal(owner.addToGroup(c.connectionId, 'd'))).toMatchObject({
      code: 'ERR_LIMIT_EXCEEDED',
      limit: 'maxGroupsPerConnection',
      max: 3,
    });
    // The owner refuses a remote command in its ack (a silent owner would end in AckTimeoutError).
    expect(await refusal(other.addToGroup(c.connectionId, 'd'))).toMatchObject({
      code: 'ERR_LIMIT_EXCEEDED',
      limit: 'maxGroupsPerConnection',
      max: 3,
    });
    expect(driver.isSubscribed(owner.channels.group('d'))).toBe(false);
    await other.removeFromGroup(c.connectionId, 'b');
    await other.addToGroup(c.connectionId, 'd');
    expect(driver.isSubscribed(owner.channels.group('d'))).toBe(true);
  });

  it('limits - a forged connection id naming a huge server id never becomes a channel name', async () => {
    const bus = new TestBus();
    const { manager, driver } = await managerOn(bus);
    const forged = `${'x'.repeat(22)}.${'s'.repeat(32_768)}`;
    await manager.sendConnection(forged, 'Say', ['x']);
    await manager.sendConnections([forged], 'Say', ['x']);
    await manager.addToGroup(forged, 'g');
    await manager.removeFromGroup(forged, 'g');
    expect(await refusal(manager.invokeConnection(forged, 'Ask', []))).toMatchObject({
      code: 'ERR_CONNECTION_NOT_FOUND',
    });
    for (const channel of driver.touched) expect(channel.length).toBeLessThan(300);
  });

  it('limits - a node id over 247 characters is refused (server ids stay within 256)', () => {
    const driver = new ControllableDriver(new TestBus());
    expect(() => new HubLifetimeManager({ driver, nodeId: 'n'.repeat(248) })).toThrow(/nodeId/);
    expect(() => new HubContext({ driver, nodeId: 'n'.repeat(248) })).toThrow(/nodeId/);
    expect(new HubLifetimeManager({ driver, nodeId: 'n'.repeat(247) }).serverId).toHaveLength(256);
  });

  it('limits - the defaults are 256 characters per name and 1 000 groups per connection', async () => {
    const bus = new TestBus();
    const { manager } = await managerOn(bus);
    const c = recordingConnection(manager.createConnectionId(), 'u'.repeat(256));
    await manager.onConnected(c);
    expect(
      await refusal(manager.onConnected(recordingConnection(manager.createConnectionId(), 'u'.repeat(257)))),
    ).toBeInstanceOf(LimitExceededError);
    await manager.addToGroup(c.connectionId, 'g'.repeat(256));
    expect(await refusal(manager.addToGroup(c.connectionId, 'g'.repeat(257)))).toBeInstanceOf(
      LimitExceededError,
    );
    for (let i = 1; i < 1_000; i++) await manager.addToGroup(c.connectionId, `g${i}`);
    expect(await refusal(manager.addToGroup(c.connectionId, 'one too many'))).toMatchObject({
      limit: 'maxGroupsPerConnection',
      max: 1_000,
    });
  });
});
