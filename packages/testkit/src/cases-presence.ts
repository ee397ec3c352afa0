import {
  type Driver,
  HubContext,
  type HubLifetimeManager,
  type HubPresence,
  InvalidArgumentError,
  LimitExceededError,
  type MessageHandler,
  type PresenceResult,
} from '@backplane/core';
import { createConnectionId, ENVELOPE_VERSION, encodeEnvelope } from '@backplane/core/internal';
import { expect, it } from 'vitest';
import { rejection, type SuiteContext } from './suite-context.js';
import { waitFor } from './wait-for.js';
import { wrapDriver } from './wrap-driver.js';

/**
 * The presence interval of the servers in these cases, in ms: short, so a server's silence is noticed in
 * a few seconds where the driver cannot count receivers, yet long enough that a slow broker does not
 * make a live server look gone (3 intervals of silence).
 */
const INTERVAL_MS = 250;
/**
 * For the case of a server that dies (the default interval): its silence must outlast the queries that
 * check it is reported before it counts as death (3 intervals after its last heartbeat).
 */
const SLOW_INTERVAL_MS = 2_000;
/** A query's deadline when a server is known not to answer, in ms. */
const SHORT_DEADLINE_MS = 300;

/** Who asks: a manager or a hub context. */
interface Asker {
  readonly presence: HubPresence;
}

/** The value of a result that must be complete. */
function complete<T>(result: PresenceResult<T>): T {
  expect(result.partial, JSON.stringify(result)).toBe(false);
  expect(result.missing).toBe(0);
  expect(result.missingServers).toEqual([]);
  return result.value;
}

const sorted = (ids: readonly string[] | undefined) => [...(ids ?? [])].sort();

/**
 * Presence across servers (`manager.presence`, `context.presence`): counts and lists asked of every
 * server, complete as soon as every expected server answered, `partial` when one did not in time.
 */
export function presenceCases(ctx: SuiteContext): void {
  /** `count` servers that know each other: each one's query is complete and answered by all. */
  async function servers(
    count: number,
    options: Partial<Parameters<SuiteContext['manager']>[0]> = {},
  ): Promise<HubLifetimeManager[]> {
    const managers: HubLifetimeManager[] = [];
    for (let i = 0; i < count; i++)
      managers.push(await ctx.manager({ presenceInterval: INTERVAL_MS, ...options }));
    await untilAllAnswer(managers, count);
    return managers;
  }

  function context(): HubContext {
    const hub = new HubContext({
      driver: ctx.harness.createDriver(),
      prefix: ctx.prefix,
      hub: 'conformance',
    });
    ctx.closeLater(hub);
    return hub;
  }

  it('presence - counts the connections of the hub, a group and a user across three servers, from any server and a hub context', async () => {
    const [m1, m2, m3] = await servers(3);
    const a = await ctx.connect(m1!, { userIdentifier: 'alice' });
    const b = await ctx.connect(m2!, { userIdentifier: 'alice' });
    const c = await ctx.connect(m3!, { userIdentifier: 'bob' });
    const d = await ctx.connect(m3!);
    await m2!.addToGroup(a.connectionId, 'room');
    await m1!.addToGroup(c.connectionId, 'room');
    await m1!.addToGroup(d.connectionId, 'other');
    for (const asker of [m1!, m2!, m3!, context()] as Asker[]) {
      const all = await asker.presence.connectionCount();
      expect(complete(all)).toBe(4);
      expect(all.servers).toBe(3);
      expect(complete(await asker.presence.groupCount('room'))).toBe(2);
      expect(complete(await asker.presence.groupCount('other'))).toBe(1);
      expect(complete(await asker.presence.groupCount('nobody'))).toBe(0);
      expect(complete(await asker.presence.userConnectionCount('alice'))).toBe(2);
      expect(complete(await asker.presence.isUserOnline('bob'))).toBe(true);
      expect(complete(await asker.presence.isUserOnline('carol'))).toBe(false);
      expect(sorted(complete(await asker.presence.userConnections('alice')))).toEqual(
        sorted([a.connectionId, b.connectionId]),
      );
      expect(complete(await asker.presence.connectionGroups(a.connectionId))).toEqual(['room']);
      expect(complete(await asker.presence.connectionGroups(b.connectionId))).toEqual([]);
    }
  });

  it('presence - joins, leaves and disconnects are seen by the next query from any server', async () => {
    const [m1, m2] = await servers(2);
    const a = await ctx.connect(m1!, { userIdentifier: 'alice' });
    const b = await ctx.connect(m2!, { userIdentifier: 'bob' });
    await m2!.addToGroup(a.connectionId, 'room');
    for (const m of [m1!, m2!]) expect(complete(await m.presence.groupCount('room'))).toBe(1);
    await m1!.addToGroup(b.connectionId, 'room');
    for (const m of [m1!, m2!]) expect(complete(await m.presence.groupCount('room'))).toBe(2);
    expect(complete(await m2!.presence.connectionGroups(a.connectionId))).toEqual(['room']);
    await m2!.removeFromGroup(a.connectionId, 'room');
    for (const m of [m1!, m2!]) {
      expect(complete(await m.presence.groupCount('room'))).toBe(1);
      expect(complete(await m.presence.connectionGroups(a.connectionId))).toEqual([]);
    }
    await m2!.onDisconnected(b);
    for (const m of [m1!, m2!]) {
      expect(complete(await m.presence.groupCount('room'))).toBe(0);
      expect(complete(await m.presence.connectionCount())).toBe(1);
      expect(complete(await m.presence.isUserOnline('bob'))).toBe(false);
      // Its server answers for it: it holds no such connection (any more).
      expect(complete(await m.presence.connectionGroups(b.connectionId))).toBeUndefined();
    }
    // An id naming no server, or a server that never existed, exists nowhere.
    expect(complete(await m1!.presence.connectionGroups('not-a-connection-id'))).toBeUndefined();
  });

  it('presence - a user on two servers is online until both of its connections leave', async () => {
    const [m1, m2, m3] = await servers(3);
    const u1 = await ctx.connect(m1!, { userIdentifier: 'carol' });
    const u2 = await ctx.connect(m2!, { userIdentifier: 'carol' });
    const ask = m3!.presence;
    expect(complete(await ask.isUserOnline('carol'))).toBe(true);
    expect(complete(await ask.userConnectionCount('carol'))).toBe(2);
    expect(sorted(complete(await ask.userConnections('carol')))).toEqual(
      sorted([u1.connectionId, u2.connectionId]),
    );
    await m1!.onDisconnected(u1);
    expect(complete(await ask.isUserOnline('carol'))).toBe(true);
    expect(complete(await ask.userConnections('carol'))).toEqual([u2.connectionId]);
    await m2!.onDisconnected(u2);
    expect(complete(await ask.isUserOnline('carol'))).toBe(false);
    expect(complete(await ask.userConnectionCount('carol'))).toBe(0);
    expect(complete(await ask.userConnections('carol'))).toEqual([]);
  });

  it('presence - a server that dies holding members: a query during its silence is partial, then its members are gone within the bound', async () => {
    const frozen = freezable(ctx.harness.createDriver());
    const m1 = await ctx.manager({ presenceInterval: SLOW_INTERVAL_MS });
    const m2 = await ctx.manager({ presenceInterval: SLOW_INTERVAL_MS });
    const m3 = await ctx.manager({ presenceInterval: SLOW_INTERVAL_MS, driver: frozen.driver });
    await untilAllAnswer([m1, m2, m3], 3);
    const hub = context();
    const a = await ctx.connect(m1, { userIdentifier: 'alice' });
    const doomed = await ctx.connect(m3, { userIdentifier: 'alice' });
    await ctx.connect(m3, { userIdentifier: 'dan' });
    await m2.addToGroup(a.connectionId, 'room');
    await m2.addToGroup(doomed.connectionId, 'room');
    expect(complete(await m1.presence.groupCount('room'))).toBe(2);
    expect(complete(await hub.presence.connectionCount())).toBe(3);

    // m3 stops answering and announcing itself (a hung process, a cut link): the broker still holds its
    // subscriptions, and the others heard from it less than 3 intervals ago.
    frozen.freeze();
    const counted = frozen.driver.capabilities.receiverCount;
    for (const asker of [m1, hub] as Asker[]) {
      const room = await asker.presence.groupCount('room', { timeout: SHORT_DEADLINE_MS });
      expect(room).toMatchObject({ value: 1, partial: true, missing: 1, servers: 2 });
      // Where servers announce themselves the missing one is named; with receiver counts only counted.
      expect(room.missingServers).toEqual(counted ? [] : [m3.serverId]);
    }
    const online = await m2.presence.isUserOnline('dan', { timeout: SHORT_DEADLINE_MS });
    expect(online).toMatchObject({ value: false, partial: true, missing: 1 });
    // A user online on a server that answers is online for sure, silence elsewhere notwithstanding.
    expect(complete(await m2.presence.isUserOnline('alice', { timeout: SHORT_DEADLINE_MS }))).toBe(true);
    expect(await m1.presence.connectionGroups(doomed.connectionId, { timeout: SHORT_DEADLINE_MS })).toEqual({
      value: undefined,
      partial: true,
      servers: 0,
      missing: 1,
      missingServers: [m3.serverId],
      truncated: false,
    });

    // Then it dies: its broker connection closes. Receiver counts drop at once; where servers announce
    // themselves it is gone 3 intervals after its last heartbeat.
    await frozen.kill();
    const bound = counted ? 0 : 3 * SLOW_INTERVAL_MS;
    for (const asker of [m1, m2, hub] as Asker[]) {
      const room = await waitFor(
        async () => {
          const r = await asker.presence.groupCount('room', { timeout: SHORT_DEADLINE_MS });
          return r.partial ? undefined : r;
        },
        { timeoutMs: bound + 10_000, name: 'a complete answer without the dead server' },
      );
      expect(complete(room)).toBe(1);
      expect(room.servers).toBe(2);
      expect(complete(await asker.presence.connectionCount())).toBe(1);
      expect(complete(await asker.presence.isUserOnline('dan'))).toBe(false);
      expect(complete(await asker.presence.userConnections('alice'))).toEqual([a.connectionId]);
    }
    expect(complete(await m1.presence.connectionGroups(doomed.connectionId))).toBeUndefined();
  }, 60_000);

  it('presence - lists are cut at maxPresenceResults and say so; counts never are', async () => {
    const [m1, m2] = await servers(2, {});
    const small = await ctx.manager({ presenceInterval: INTERVAL_MS, maxPresenceResults: 2 });
    await untilAllAnswer([m1!, m2!, small], 3);
    await ctx.connect(small, { userIdentifier: 'erin' });
    const many = [];
    for (let i = 0; i < 3; i++) many.push(await ctx.connect(m2!, { userIdentifier: 'erin' }));
    for (const group of ['g1', 'g2', 'g3']) await m1!.addToGroup(many[0]!.connectionId, group);
    // Asked by `small`: at most 2 ids from each server.
    const cut = await small.presence.userConnections('erin');
    expect(cut).toMatchObject({ partial: false, truncated: true });
    expect(cut.value).toHaveLength(3);
    expect(complete(await small.presence.userConnectionCount('erin'))).toBe(4);
    const groups = await small.presence.connectionGroups(many[0]!.connectionId);
    expect(groups).toMatchObject({ partial: false, truncated: true });
    expect(groups.value).toHaveLength(2);
    // Asked by m1: `small` answers at most 2 of its own whoever asks (it has 1), m2 all 3.
    const whole = await m1!.presence.userConnections('erin');
    expect(whole).toMatchObject({ partial: false, truncated: false });
    expect(whole.value).toHaveLength(4);
    expect(sorted(complete(await m1!.presence.connectionGroups(many[0]!.connectionId)))).toEqual([
      'g1',
      'g2',
      'g3',
    ]);
  });

  it('presence - bad input is refused with typed errors, on a manager and a hub context', async () => {
    const [m] = await servers(1);
    const hub = context();
    const long = 'x'.repeat(257);
    const invalid = (value: unknown) => value as string;
    for (const asker of [m!, hub] as Asker[]) {
      const p = asker.presence;
      for (const query of [
        () => p.groupCount(''),
        () => p.groupCount(invalid(42)),
        () => p.userConnectionCount(''),
        () => p.isUserOnline(''),
        () => p.userConnections(invalid(undefined)),
        () => p.connectionGroups(''),
        () => p.connectionCount({ timeout: 0 }),
        () => p.connectionCount({ timeout: -5 }),
        () => p.connectionCount({ timeout: Number.NaN }),
        () => p.groupCount('room', { timeout: Number.POSITIVE_INFINITY }),
      ])
        expect(await rejection(query())).toBeInstanceOf(InvalidArgumentError);
      expect(await rejection(p.groupCount(long))).toBeInstanceOf(LimitExceededError);
      expect(await rejection(p.userConnections(long))).toBeInstanceOf(LimitExceededError);
      const aborted = new AbortController();
      aborted.abort(new Error('gave up'));
      expect((await rejection(p.connectionCount({ signal: aborted.signal }))).message).toBe('gave up');
    }
    await expect(ctx.manager({ presenceTimeout: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ctx.manager({ maxPresenceResults: 1.5 })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(
      () => new HubContext({ driver: ctx.harness.createDriver(), prefix: ctx.prefix, presenceTimeout: -1 }),
    ).toThrow(InvalidArgumentError);
    expect(complete(await m!.presence.connectionCount())).toBe(0);
  });

  it('presence - garbage and forged answers on presence channels are dropped; queries stay right', async () => {
    const [m1, m2] = await servers(2);
    const hub = context();
    await ctx.connect(m2!);
    expect(complete(await hub.presence.connectionCount())).toBe(1); // the context now listens
    const raw = await ctx.rawDriver();
    const hex = (s: string) => Uint8Array.from(s.split(' ').map((b) => Number.parseInt(b, 16)));
    const garbage = [
      hex('96 01 a1 78 a1 65 00 07 a3 62 61 64'), // a query whose id is a string
      hex('99 01 a1 78 a1 65 00 07 01 09 c0 05'), // an unknown query
      hex('99 01 a1 78 a1 65 00 07 01 01 a1 6e 05'), // a connections query naming something
      hex('97 01 a1 78 a1 65 00 08 01 a1 61'), // an answer whose count is a string
      hex('98 01 a1 78 a1 65 00 08 01 02 91 01'), // an answer whose ids are not strings
      hex('95 01 a1 78 a1 65 00 08'), // an answer without its fields
    ];
    const before = { m1: m1!.stats.malformed, hub: hub.stats.malformed };
    for (const bytes of garbage) {
      await raw.publish(m1!.channels.presenceQuery, bytes);
      await raw.publish(m1!.channels.server(m1!.serverId), bytes);
      await raw.publish(m1!.channels.server(hub.serverId), bytes);
    }
    // A well-formed answer nobody asked for (a late or forged one) is ignored.
    const forged = encodeEnvelope({
      v: ENVELOPE_VERSION,
      origin: 'forger-1',
      epoch: 'e',
      seq: 0,
      kind: 'presence-answer',
      id: 999_999,
      count: 1_000,
    });
    await raw.publish(m1!.channels.server(m1!.serverId), forged);
    await raw.publish(m1!.channels.server(hub.serverId), forged);
    await waitFor(
      () =>
        m1!.stats.malformed - before.m1 === garbage.length * 2 &&
        hub.stats.malformed - before.hub === garbage.length,
      { name: 'every garbage message dropped and counted' },
    );
    for (const asker of [m1!, m2!, hub] as Asker[])
      expect(complete(await asker.presence.connectionCount())).toBe(1);
    // A query for a connection of a server that never existed waits for nobody where receivers are counted.
    const ghost = createConnectionId('never-existed-1');
    const groups = await m1!.presence.connectionGroups(ghost, { timeout: SHORT_DEADLINE_MS });
    expect(groups.value).toBeUndefined();
  });
}

/** Waits until a connection count asked of each manager is complete and answered by `count` servers. */
async function untilAllAnswer(managers: readonly HubLifetimeManager[], count: number): Promise<void> {
  for (const m of managers)
    await waitFor(
      async () => {
        const result = await m.presence.connectionCount();
        return !result.partial && result.servers === count;
      },
      { name: `${m.serverId} hearing ${count} servers`, timeoutMs: 15_000 },
    );
}

/**
 * A driver that can be frozen (nothing it receives reaches the manager, nothing the manager publishes
 * leaves: a hung process or a black-holed link, while the broker still holds its subscriptions) and then
 * killed (its broker connection closes, without a goodbye).
 */
function freezable(inner: Driver): { driver: Driver; freeze(): void; kill(): Promise<void> } {
  let frozen = false;
  const driver = wrapDriver(inner, {
    publish: (channel, payload) => (frozen ? Promise.resolve(undefined) : inner.publish(channel, payload)),
    setMessageHandler: (handler: MessageHandler) =>
      inner.setMessageHandler((channel, payload, position) => {
        if (!frozen) handler(channel, payload, position);
      }),
  });
  return {
    driver,
    freeze: () => {
      frozen = true;
    },
    kill: () => inner.close(),
  };
}
