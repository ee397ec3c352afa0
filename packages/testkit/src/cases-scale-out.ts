import { ConnectionNotFoundError, HubError } from '@backplane/core';
import { completionWithError, completionWithResult } from '@backplane/hub-protocol';
import { expect, it } from 'vitest';
import { expectHello, rejection, type SuiteContext } from './suite-context.js';
import { TestClient } from './test-client.js';

const hello = ['World'] as const;

const int32 = {
  name: 'Int32',
  parse(value: unknown): number {
    if (typeof value !== 'number' || !Number.isInteger(value))
      throw new TypeError(`${JSON.stringify(value)} is not an integer.`);
    return value;
  },
};

/**
 * The scale-out behaviour, as SignalR's own scale-out tests (`ScaleoutHubLifetimeManagerTests`) check it, with
 * the same assertions and error messages: 23 cases, servers m1 and m2 on one backplane.
 */
export function scaleOutCases(ctx: SuiteContext): void {
  it('scale-out - sendAll reaches connections on every server', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const [c1, c2] = [await ctx.connect(m1), await ctx.connect(m2)];
    await m1.sendAll('Hello', hello);
    await expectHello(c1);
    await expectHello(c2);
  });

  it('scale-out - sendAll does not reach disconnected connections', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const [c1, c2] = [await ctx.connect(m1), await ctx.connect(m2)];
    await m2.onDisconnected(c2);
    await m2.sendAll('Hello', hello);
    await expectHello(c1);
    await c2.expectNothing();
  });

  it('scale-out - sendConnection from a server without the connection reaches it', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m1);
    await m2.sendConnection(c.connectionId, 'Hello', hello);
    await expectHello(c);
  });

  it('scale-out - sendGroup from a server without members reaches the group', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m1);
    await m1.addToGroup(c.connectionId, 'name');
    await m2.sendGroup('name', 'Hello', hello);
    await expectHello(c);
  });

  it('scale-out - disconnecting removes the connection from its groups', async () => {
    const m = await ctx.manager();
    const c = await ctx.connect(m);
    await m.addToGroup(c.connectionId, 'name');
    await m.onDisconnected(c);
    await m.sendGroup('name', 'Hello', hello);
    await c.expectNothing();
  });

  it('scale-out - removing a local connection from a group it is not in does nothing', async () => {
    const m = await ctx.manager();
    const c = await ctx.connect(m);
    await m.removeFromGroup(c.connectionId, 'name');
  });

  it('scale-out - removing a remote connection from a group it is not in is acknowledged', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m1);
    await m2.removeFromGroup(c.connectionId, 'name');
  });

  it('scale-out - adding a remote connection to a group resolves once it receives group sends', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m1);
    await m2.addToGroup(c.connectionId, 'name');
    await m2.sendGroup('name', 'Hello', hello);
    await expectHello(c);
  });

  it('scale-out - adding a local connection twice delivers once', async () => {
    const m = await ctx.manager();
    const c = await ctx.connect(m);
    await m.addToGroup(c.connectionId, 'name');
    await m.addToGroup(c.connectionId, 'name');
    await m.sendGroup('name', 'Hello', hello);
    await expectHello(c);
    await c.expectNothing();
  });

  it('scale-out - adding a remote connection already in the group delivers once', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m1);
    await m1.addToGroup(c.connectionId, 'name');
    await m2.addToGroup(c.connectionId, 'name');
    await m2.sendGroup('name', 'Hello', hello);
    await expectHello(c);
    await c.expectNothing();
  });

  it('scale-out - removing a remote connection from a group stops group sends', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m1);
    await m1.addToGroup(c.connectionId, 'name');
    await m2.sendGroup('name', 'Hello', hello);
    await expectHello(c);
    await m2.removeFromGroup(c.connectionId, 'name');
    await m2.sendGroup('name', 'Hello', hello);
    await c.expectNothing();
  });

  it('scale-out - sendConnection to a local connection does not go through the backplane', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m1);
    await m2.onConnected(c);
    await m1.sendConnection(c.connectionId, 'Hello', hello);
    await expectHello(c);
    await c.expectNothing();
  });

  it('scale-out - writing to a remote connection that fails does not throw', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const failing = new TestClient({ connectionId: m2.createConnectionId(), failWrites: true });
    await m2.onConnected(failing);
    await m1.sendConnection(failing.connectionId, 'Hello', hello);
  });

  it('scale-out - one failing connection in a group does not stop the others', async () => {
    const m = await ctx.manager();
    const failing = new TestClient({ connectionId: m.createConnectionId(), failWrites: true });
    await m.onConnected(failing);
    const c2 = await ctx.connect(m);
    await m.addToGroup(failing.connectionId, 'group');
    await m.addToGroup(c2.connectionId, 'group');
    await m.sendGroup('group', 'Hello', hello);
    await expectHello(c2);
    await m.sendGroup('group', 'Hello', hello);
    await expectHello(c2);
    expect(m.stats.writeErrors).toBe(2);
  });

  it('scale-out - sendUser reaches every connection of the user', async () => {
    const m = await ctx.manager();
    const c1 = await ctx.connect(m, { userIdentifier: 'userA' });
    const c2 = await ctx.connect(m, { userIdentifier: 'userA' });
    const c3 = await ctx.connect(m, { userIdentifier: 'userB' });
    await m.sendUser('userA', 'Hello', hello);
    await expectHello(c1);
    await expectHello(c2);
    await c3.expectNothing();
  });

  it('scale-out - still subscribed to a user after one of its connections leaves', async () => {
    const m = await ctx.manager();
    const c1 = await ctx.connect(m, { userIdentifier: 'userA' });
    const c2 = await ctx.connect(m, { userIdentifier: 'userA' });
    await ctx.connect(m, { userIdentifier: 'userB' });
    await m.sendUser('userA', 'Hello', hello);
    await expectHello(c1);
    await expectHello(c2);
    await m.onDisconnected(c1);
    await m.sendUser('userA', 'Hello', hello);
    await expectHello(c2);
  });

  it('scale-out - client result across servers', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c1 = await ctx.connect(m1);
    const result = m2.invokeConnection<number>(c1.connectionId, 'Result', ['test']);
    const invocation = await c1.readInvocation();
    expect(invocation.invocationId).toBeTruthy();
    expect(invocation.arguments[0]).toBe('test');
    await m1.setConnectionResult(c1.connectionId, completionWithResult(invocation.invocationId!, 10));
    expect(await result).toBe(10);
  });

  it('scale-out - client error result across servers', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c1 = await ctx.connect(m1);
    const result = m2.invokeConnection<number>(c1.connectionId, 'Result', ['test']);
    const invocation = await c1.readInvocation();
    await m1.setConnectionResult(
      c1.connectionId,
      completionWithError(invocation.invocationId!, 'Error from client'),
    );
    const error = await rejection(result);
    expect(error).toBeInstanceOf(HubError);
    expect(error.message).toBe('Error from client');
  });

  it('scale-out - client result for an unknown connection fails with several servers', async () => {
    const [m1] = [await ctx.manager(), await ctx.manager()];
    await ctx.connect(m1);
    const error = await rejection(m1.invokeConnection('none', 'Result', ['test']));
    expect(error).toBeInstanceOf(ConnectionNotFoundError);
  });

  it('scale-out - a remote client that disconnects without answering fails the call', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c1 = await ctx.connect(m2);
    const result = m1.invokeConnection(c1.connectionId, 'Result', ['test']);
    await c1.readInvocation();
    await m2.onDisconnected(c1);
    const error = await rejection(result);
    expect(error).toBeInstanceOf(HubError);
    expect(error.message).toBe('Connection disconnected.');
  });

  it('scale-out - invocation ids are unique across servers', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m1);
    const i1 = m1.invokeConnection<number>(c.connectionId, 'Result', ['test']);
    const invA = await c.readInvocation();
    const i2 = m2.invokeConnection<number>(c.connectionId, 'Result', ['test']);
    const invB = await c.readInvocation();
    expect(invA.invocationId).not.toBe(invB.invocationId);
    await m1.setConnectionResult(c.connectionId, completionWithResult(invA.invocationId!, 2));
    await m2.setConnectionResult(c.connectionId, completionWithResult(invB.invocationId!, 5));
    expect(await i1).toBe(2);
    expect(await i2).toBe(5);
  });

  it('scale-out - client result for a connection that exists nowhere fails with its id', async () => {
    const [m1] = [await ctx.manager(), await ctx.manager()];
    const error = await rejection(m1.invokeConnection('1234', 'Result', ['test']));
    expect(error).toBeInstanceOf(ConnectionNotFoundError);
    expect(error.message).toBe("Connection '1234' does not exist.");
  });

  it('scale-out - a client result of the wrong type across servers fails', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c1 = await ctx.connect(m1);
    const result = m2.invokeConnection(c1.connectionId, 'Result', ['test'], { resultType: int32 });
    const invocation = await c1.readInvocation();
    await m1.setConnectionResult(
      c1.connectionId,
      completionWithResult(invocation.invocationId!, 'wrong type'),
    );
    const error = await rejection(result);
    expect(error).toBeInstanceOf(HubError);
    expect(error.message.startsWith('Error trying to deserialize result to Int32.')).toBe(true);
  });
}
