import {
  AckTimeoutError,
  ClosedError,
  ConnectionNotFoundError,
  type Driver,
  DuplicateConnectionError,
  HubContext,
  type HubLifetimeManagerOptions,
  InvalidArgumentError,
  LimitExceededError,
} from '@backplane/core';
import { createConnectionId } from '@backplane/core/internal';
import { MessagePackHubProtocol } from '@backplane/hub-protocol';
import { expect, it } from 'vitest';
import { expectHello, rejection, type SuiteContext, silentLogger } from './suite-context.js';
import { TestClient } from './test-client.js';
import { wrapDriver } from './wrap-driver.js';

const hello = ['World'] as const;

/** Our guarantees beyond SignalR's suite: isolation, literal names, order, bad input, de-duplication, liveness. */
export function backplaneCases(ctx: SuiteContext): void {
  it('isolation - two apps with different prefixes on one bus never see each other', async () => {
    // A prefix is one segment ending with ':' (docs/protocol.md): the per-test prefix grows inside it.
    const appA = await ctx.manager({ prefix: `${ctx.prefix.slice(0, -1)}-appA:` });
    const appB = await ctx.manager({ prefix: `${ctx.prefix.slice(0, -1)}-appB:` });
    const a = await ctx.connect(appA);
    const b = await ctx.connect(appB);
    await appA.addToGroup(a.connectionId, 'shared');
    await appB.addToGroup(b.connectionId, 'shared');
    await appA.sendAll('Hello', hello);
    await appA.sendGroup('shared', 'Hello', hello);
    await expectHello(a);
    await expectHello(a);
    await b.expectNothing();
  });

  it("prefix isolation - a prefix that extends another app's channel names is refused or isolated", async () => {
    const victimApp = await ctx.manager();
    const victim = await ctx.connect(victimApp);
    // The victim's group 'x:all' is `{prefix}conformance:group:x:all`: exactly the `all` channel of an app
    // with prefix `{prefix}conformance:group:` and hub 'x', or of hub 'conformance:group:x'.
    await victimApp.addToGroup(victim.connectionId, 'x:all');
    const attempts: Array<Pick<HubLifetimeManagerOptions, 'prefix' | 'hub'>> = [
      { prefix: `${ctx.prefix}conformance:group:`, hub: 'x' },
      { prefix: ctx.prefix, hub: 'conformance:group:x' },
      { prefix: ctx.prefix.slice(0, -1), hub: 'conformance' },
      { prefix: '', hub: `${ctx.prefix}conformance` },
    ];
    for (const attempt of attempts) {
      let attacker: Awaited<ReturnType<SuiteContext['manager']>>;
      try {
        attacker = await ctx.manager(attempt);
      } catch (error) {
        expect(error, JSON.stringify(attempt)).toBeInstanceOf(InvalidArgumentError);
        expect(
          () => new HubContext({ driver: ctx.harness.createDriver(), ...attempt }),
          JSON.stringify(attempt),
        ).toThrow(InvalidArgumentError);
        continue;
      }
      // Accepted: then the two apps must not see each other's traffic.
      const intruder = await ctx.connect(attacker);
      await attacker.sendAll('Hello', ['intruder']);
      await victimApp.sendGroup('x:all', 'Hello', ['victim']);
      await expectHello(victim, 'victim');
      await expectHello(intruder, 'intruder');
      await victim.expectNothing();
      await intruder.expectNothing();
    }
    await victimApp.sendGroup('x:all', 'Hello', ['still works']);
    await expectHello(victim, 'still works');
  });

  it('duplicate connection - a second connection under a live id is refused; the first keeps receiving from every server', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const victim = await ctx.connect(m1, { userIdentifier: 'victim' });
    await m2.addToGroup(victim.connectionId, 'room');
    const attacker = new TestClient({ connectionId: victim.connectionId, userIdentifier: 'attacker' });
    const error = await rejection(m1.onConnected(attacker));
    expect(error).toBeInstanceOf(DuplicateConnectionError);
    expect(error).toMatchObject({ code: 'ERR_DUPLICATE_CONNECTION', connectionId: victim.connectionId });
    const sendEverywhere = async (word: string) => {
      for (const m of [m1, m2]) {
        await m.sendConnection(victim.connectionId, 'Hello', [`${word} connection`]);
        await m.sendGroup('room', 'Hello', [`${word} group`]);
        await m.sendUser('victim', 'Hello', [`${word} user`]);
      }
    };
    const expectEverywhere = async (word: string) => {
      const got: string[] = [];
      for (let i = 0; i < 6; i++) got.push(String((await victim.readInvocation()).arguments[0]));
      // Routes may interleave on a sharded broker: compare as multisets.
      const routes = ['connection', 'connection', 'group', 'group', 'user', 'user'];
      expect(got.sort()).toEqual(routes.map((route) => `${word} ${route}`));
    };
    await sendEverywhere('before');
    await expectEverywhere('before');
    // The refused connection goes away; the victim must stay registered.
    await m1.onDisconnected(attacker);
    await sendEverywhere('after');
    await expectEverywhere('after');
    await m2.sendUser('attacker', 'Hello', hello);
    await attacker.expectNothing();
    await victim.expectNothing(0);
  });

  it('limits - over-long group names and user ids, and too many groups, are refused on every route', async () => {
    const touched = new Set<string>();
    const m1 = await ctx.manager({
      maxGroupsPerConnection: 2,
      driver: recording(ctx.harness.createDriver(), touched, true),
    });
    const m2 = await ctx.manager({ driver: recording(ctx.harness.createDriver(), touched, true) });
    const c = await ctx.connect(m1);
    const longGroup = 'g'.repeat(257);
    const longUser = 'u'.repeat(257);
    for (const m of [m1, m2]) {
      expect(await rejection(m.addToGroup(c.connectionId, longGroup))).toBeInstanceOf(LimitExceededError);
      expect(await rejection(m.removeFromGroup(c.connectionId, longGroup))).toBeInstanceOf(
        LimitExceededError,
      );
      expect(() => m.sendGroup(longGroup, 'Hello', hello)).toThrow(LimitExceededError);
      expect(() => m.sendGroupExcept(longGroup, 'Hello', hello, [])).toThrow(LimitExceededError);
      expect(() => m.sendGroups(['ok', longGroup], 'Hello', hello)).toThrow(LimitExceededError);
      expect(() => m.sendUser(longUser, 'Hello', hello)).toThrow(LimitExceededError);
      expect(() => m.sendUsers(['ok', longUser], 'Hello', hello)).toThrow(LimitExceededError);
      const anonymous = new TestClient({ connectionId: m.createConnectionId(), userIdentifier: longUser });
      expect(await rejection(m.onConnected(anonymous))).toMatchObject({
        code: 'ERR_LIMIT_EXCEEDED',
        limit: 'maxUserIdLength',
        max: 256,
      });
    }
    const hub = new HubContext({
      driver: ctx.harness.createDriver(),
      prefix: ctx.prefix,
      hub: 'conformance',
    });
    try {
      expect(await rejection(hub.sendGroup(longGroup, 'Hello', hello))).toBeInstanceOf(LimitExceededError);
      expect(await rejection(hub.sendUser(longUser, 'Hello', hello))).toBeInstanceOf(LimitExceededError);
    } finally {
      await hub.close();
    }
    // At the limit is fine.
    const longest = 'g'.repeat(256);
    await m2.addToGroup(c.connectionId, longest);
    await m2.sendGroup(longest, 'Hello', ['longest']);
    await expectHello(c, 'longest');
    // Groups per connection, held by the connection's own server, whoever asks.
    await m2.addToGroup(c.connectionId, 'second');
    expect(await rejection(m1.addToGroup(c.connectionId, 'third'))).toMatchObject({
      code: 'ERR_LIMIT_EXCEEDED',
      limit: 'maxGroupsPerConnection',
      max: 2,
    });
    expect(await rejection(m2.addToGroup(c.connectionId, 'third'))).toMatchObject({
      code: 'ERR_LIMIT_EXCEEDED',
      limit: 'maxGroupsPerConnection',
      max: 2,
    });
    await m2.addToGroup(c.connectionId, 'second'); // already a member: not a new group
    await m1.sendGroup('third', 'Hello', ['not a member']);
    await m2.removeFromGroup(c.connectionId, 'second');
    await m2.addToGroup(c.connectionId, 'third');
    await m1.sendGroup('third', 'Hello', ['third']);
    await expectHello(c, 'third');
    await c.expectNothing();
    for (const channel of touched) {
      expect(channel).not.toContain(longGroup);
      expect(channel).not.toContain(longUser);
    }
  });

  it('literal names - a group called * is a group, not a pattern', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const star = await ctx.connect(m1);
    const other = await ctx.connect(m1);
    await m1.addToGroup(star.connectionId, '*');
    await m1.addToGroup(other.connectionId, 'unique');
    await m2.sendGroup('unique', 'Hello', hello);
    await expectHello(other);
    await star.expectNothing();
    await m2.sendGroup('*', 'Hello', hello);
    await expectHello(star);
    await other.expectNothing();
  });

  it('literal names - a user called * is a user, not a pattern', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const star = await ctx.connect(m1, { userIdentifier: '*' });
    const userA = await ctx.connect(m1, { userIdentifier: 'userA' });
    await m2.sendUser('userA', 'Hello', hello);
    await expectHello(userA);
    await star.expectNothing();
    await m2.sendUser('*', 'Hello', hello);
    await expectHello(star);
  });

  it('literal names - odd characters stay literal and a group never collides with a user', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const names = ['a.b', 'a.*', '>', 'with space', 'colon:group:x', '?[ab]', 'ünï©ødé', 'a'];
    const members = [];
    for (const name of names) {
      const c = await ctx.connect(m1);
      await m2.addToGroup(c.connectionId, name);
      members.push(c);
    }
    const userA = await ctx.connect(m1, { userIdentifier: 'a' });
    for (const [i, name] of names.entries()) {
      await m2.sendGroup(name, 'Hello', [name]);
      await expectHello(members[i]!, name);
    }
    for (const c of members) await c.expectNothing(0);
    await userA.expectNothing();
  });

  it('order - messages from one server on one route reach a connection in send order', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m2);
    await m2.addToGroup(c.connectionId, 'fifo');
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) sends.push(m1.sendGroup('fifo', 'Hello', [String(i)]));
    await Promise.all(sends);
    for (let i = 0; i < 200; i++) await expectHello(c, String(i));
  });

  it('order - on an unsharded broker, messages from one server keep their order across routes', async (test) => {
    // Sharded pub/sub (Redis Cluster) puts each channel on its own shard: order holds per route only.
    if ((await ctx.rawDriver()).capabilities.sharded) test.skip();
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m2, { userIdentifier: 'fifo-user' });
    await m2.addToGroup(c.connectionId, 'fifo');
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      const route = i % 4;
      if (route === 0) sends.push(m1.sendAll('Hello', [String(i)]));
      else if (route === 1) sends.push(m1.sendGroup('fifo', 'Hello', [String(i)]));
      else if (route === 2) sends.push(m1.sendConnection(c.connectionId, 'Hello', [String(i)]));
      else sends.push(m1.sendUser('fifo-user', 'Hello', [String(i)]));
    }
    await Promise.all(sends);
    for (let i = 0; i < 200; i++) await expectHello(c, String(i));
  });

  it('bad input - garbage on hub channels is dropped and counted while valid traffic flows', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m2);
    await m2.addToGroup(c.connectionId, 'g');
    const raw = await ctx.rawDriver();
    const garbage = [
      new Uint8Array([0xc1]), // never-used MessagePack byte
      new TextEncoder().encode('{"not":"an envelope"}'),
      new Uint8Array([0x95, 0x01, 0xa1, 0x78]), // truncated array
      new Uint8Array([0x96, 0x63, 0xa1, 0x78, 0xa0, 0x01, 0x01, 0x80]), // unknown version 99
      new Uint8Array([0x95, 0x01, 0xa1, 0x78, 0xa0, 0x01, 0x63]), // unknown kind
      new Uint8Array(0),
    ];
    const server = c.connectionId.slice(c.connectionId.indexOf('.') + 1);
    for (const bytes of garbage) {
      await raw.publish(m2.channels.all, bytes);
      await raw.publish(m2.channels.group('g'), bytes);
      await raw.publish(m2.channels.server(server), bytes);
      await m1.sendAll('Hello', hello);
      await expectHello(c);
    }
    await m1.sendGroup('g', 'Hello', hello);
    await expectHello(c);
    expect(m2.stats.malformed).toBe(garbage.length * 3);
    await c.expectNothing();
  });

  it('bad input - empty group, user and connection names are refused with InvalidArgumentError', async () => {
    const m = await ctx.manager();
    const c = await ctx.connect(m);
    expect(() => m.sendGroup('', 'Hello', hello)).toThrow(InvalidArgumentError);
    expect(() => m.sendGroups(['ok', ''], 'Hello', hello)).toThrow(InvalidArgumentError);
    expect(() => m.sendUser('', 'Hello', hello)).toThrow(InvalidArgumentError);
    expect(() => m.sendConnection('', 'Hello', hello)).toThrow(InvalidArgumentError);
    expect(await rejection(m.addToGroup(c.connectionId, ''))).toBeInstanceOf(InvalidArgumentError);
    await c.expectNothing(0);
  });

  it('sendGroups - a connection in several listed groups receives one copy, on any server', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const local = await ctx.connect(m1);
    const remote = await ctx.connect(m2);
    const onlyG2 = await ctx.connect(m2);
    for (const c of [local, remote]) {
      await m1.addToGroup(c.connectionId, 'g1');
      await m1.addToGroup(c.connectionId, 'g2');
    }
    await m1.addToGroup(onlyG2.connectionId, 'g2');
    await m1.sendGroups(['g1', 'g2', 'g1'], 'Hello', hello);
    await m1.sendGroups(['g2', 'g1'], 'Hello', ['again']);
    for (const c of [local, remote]) {
      await expectHello(c);
      await expectHello(c, 'again');
    }
    await expectHello(onlyG2);
    await expectHello(onlyG2, 'again');
    for (const c of [local, remote, onlyG2]) await c.expectNothing();
  });

  it('sendAllExcept and sendConnections - exclusions and id lists work across servers', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const a = await ctx.connect(m1);
    const b = await ctx.connect(m2);
    const c = await ctx.connect(m2);
    await m1.sendAllExcept('Hello', hello, [b.connectionId]);
    await expectHello(a);
    await expectHello(c);
    await m1.sendConnections([b.connectionId, c.connectionId, b.connectionId, a.connectionId], 'Hello', [
      'list',
    ]);
    for (const x of [a, b, c]) await expectHello(x, 'list');
    for (const x of [a, b, c]) await x.expectNothing();
  });

  it('protocols - a MessagePack connection receives what a server serialized once per protocol', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const json = await ctx.connect(m2);
    const msgpack = await ctx.connect(m2, { protocol: new MessagePackHubProtocol() });
    await m1.sendAll('Hello', hello);
    await expectHello(json);
    await expectHello(msgpack);
  });

  it('hub context - a process without connections reaches all, groups, users and connections', async () => {
    const m = await ctx.manager();
    const c = await ctx.connect(m, { userIdentifier: 'ctx-user' });
    await m.addToGroup(c.connectionId, 'ctx-group');
    const hub = new HubContext({
      driver: ctx.harness.createDriver(),
      prefix: ctx.prefix,
      hub: 'conformance',
    });
    try {
      await hub.sendAll('Hello', ['all']);
      await hub.sendGroup('ctx-group', 'Hello', ['group']);
      await hub.sendGroups(['ctx-group', 'none'], 'Hello', ['groups']);
      await hub.sendUser('ctx-user', 'Hello', ['user']);
      await hub.sendConnection(c.connectionId, 'Hello', ['connection']);
      for (const word of ['all', 'group', 'groups', 'user', 'connection']) await expectHello(c, word);
    } finally {
      await hub.close();
    }
  });

  it('groups - a command to a server that never answers fails with AckTimeoutError', async () => {
    const m = await ctx.manager({ ackTimeout: 300 });
    const ghost = await ctx.rawDriver();
    await ghost.subscribe(m.channels.server('ghost-1'));
    const error = await rejection(m.addToGroup(createConnectionId('ghost-1'), 'g'));
    expect(error).toBeInstanceOf(AckTimeoutError);
    expect(m.stats.ackTimeouts).toBe(1);
  });

  it('groups - a group is subscribed only on servers with members, and released by the last one', async () => {
    const live1 = new Set<string>();
    const live2 = new Set<string>();
    const m1 = await ctx.manager({ driver: recording(ctx.harness.createDriver(), live1) });
    const m2 = await ctx.manager({ driver: recording(ctx.harness.createDriver(), live2) });
    const [a, b] = [await ctx.connect(m1), await ctx.connect(m1)];
    const channel = m1.channels.group('lazy');
    await m2.addToGroup(a.connectionId, 'lazy');
    await m2.addToGroup(b.connectionId, 'lazy');
    expect(live1.has(channel)).toBe(true);
    expect(live2.has(channel)).toBe(false);
    await m2.removeFromGroup(a.connectionId, 'lazy');
    expect(live1.has(channel)).toBe(true);
    await m1.onDisconnected(b);
    expect(live1.has(channel)).toBe(false);
  });

  it('liveness - a server that is gone fails client results and no-ops group commands at once', async () => {
    // Receiver counts tell where the broker counts them; elsewhere the server's goodbye heartbeat does.
    const m1 = await ctx.manager();
    const m2 = await ctx.manager();
    const c = await ctx.connect(m2);
    await m2.close();
    const error = await rejection(m1.invokeConnection(c.connectionId, 'Result', []));
    expect(error).toBeInstanceOf(ConnectionNotFoundError);
    await m1.addToGroup(c.connectionId, 'g');
  });

  it('liveness - a client result for a connection that left its live server fails', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m2);
    await m2.onDisconnected(c);
    const error = await rejection(m1.invokeConnection(c.connectionId, 'Result', []));
    expect(error).toBeInstanceOf(ConnectionNotFoundError);
  });

  it('close - pending client results fail with ClosedError', async () => {
    const [m1, m2] = [await ctx.manager({ logger: silentLogger }), await ctx.manager()];
    const c = await ctx.connect(m2);
    const failed = rejection(m1.invokeConnection(c.connectionId, 'Result', []));
    await c.readInvocation();
    await m1.close();
    expect(await failed).toBeInstanceOf(ClosedError);
  });
}

/**
 * Wraps a driver so the test can see which channels are live (or, with `keep`, every channel ever
 * subscribed to or published to).
 */
function recording(inner: Driver, live: Set<string>, keep = false): Driver {
  return wrapDriver(inner, {
    publish: (channel, payload) => {
      if (keep) live.add(channel);
      return inner.publish(channel, payload);
    },
    subscribe: async (channel) => {
      await inner.subscribe(channel);
      live.add(channel);
    },
    unsubscribe: async (channel) => {
      if (!keep) live.delete(channel);
      await inner.unsubscribe(channel);
    },
  });
}
