import { JsonHubProtocol } from '@backplane/hub-protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { HubContext, HubLifetimeManager, type LocalConnection } from '../src/index.js';
import { ControllableDriver, TestBus } from './controllable-driver.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
/** Presence interval of these servers, in ms: a server trusts its list of live servers after 1.5 of them. */
const INTERVAL_MS = 200;

const connection = (manager: HubLifetimeManager, userIdentifier?: string): LocalConnection => ({
  connectionId: manager.createConnectionId(),
  userIdentifier,
  protocol: new JsonHubProtocol(),
  write() {},
});

describe('presence query', () => {
  const closables: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.allSettled(closables.splice(0).map((c) => c.close()));
  });

  async function server(bus: TestBus, receiverCount: boolean): Promise<HubLifetimeManager> {
    const driver = new ControllableDriver(bus, { receiverCount });
    const manager = new HubLifetimeManager({
      driver,
      logger: quiet,
      presenceInterval: INTERVAL_MS,
      liveness: false,
    });
    closables.push(manager);
    await manager.start();
    return manager;
  }

  function context(bus: TestBus, receiverCount: boolean): HubContext {
    const hub = new HubContext({ driver: new ControllableDriver(bus, { receiverCount }) });
    closables.push(hub);
    return hub;
  }

  it('presence query - where servers announce themselves, one that has not listened long enough cannot tell who is missing', async () => {
    const bus = new TestBus();
    const [m1, m2] = [await server(bus, false), await server(bus, false)];
    await m2.onConnected(connection(m2));
    const early = await m1.presence.connectionCount({ timeout: 20 });
    // m2 answered, but neither server has heard every live server yet: nobody can tell who else exists.
    expect(early).toMatchObject({ value: 1, partial: true, missing: undefined, missingServers: [] });
  });

  it('presence query - a query made before a server has listened long enough completes once it has', async () => {
    const bus = new TestBus();
    const [m1, m2] = [await server(bus, false), await server(bus, false)];
    await m1.onConnected(connection(m1));
    await m2.onConnected(connection(m2));
    const result = await m1.presence.connectionCount({ timeout: 10 * INTERVAL_MS });
    expect(result).toMatchObject({ value: 2, partial: false, servers: 2, missing: 0 });
  });

  it('presence query - a hub context with no server to answer: complete with receiver counts, unknown without', async () => {
    const counted = await context(new TestBus(), true).presence.connectionCount({ timeout: 10_000 });
    expect(counted).toMatchObject({ value: 0, partial: false, servers: 0, missing: 0 });
    const heard = await context(new TestBus(), false).presence.connectionCount({ timeout: 50 });
    expect(heard).toMatchObject({ value: 0, partial: true, servers: 0, missing: undefined });
  });

  it('presence query - a query that cannot be published answers from this server, partial', async () => {
    const bus = new TestBus();
    const driver = new ControllableDriver(bus);
    const m = new HubLifetimeManager({ driver, logger: quiet, liveness: false });
    closables.push(m);
    await m.onConnected(connection(m, 'alice'));
    driver.down();
    const result = await m.presence.userConnectionCount('alice', { timeout: 10_000 });
    expect(result).toMatchObject({ value: 1, partial: true, servers: 1, missing: undefined });
    // Online here is online for sure: nobody else need be asked.
    expect(await m.presence.isUserOnline('alice')).toMatchObject({ value: true, partial: false });
  });

  it('presence query - pending queries fail with ClosedError when the manager closes', async () => {
    const bus = new TestBus();
    const [m1] = [await server(bus, false), await server(bus, false)];
    const pending = m1.presence.connectionCount({ timeout: 10_000 });
    await m1.close();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await expect(m1.presence.connectionCount()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });
});
