import {
  ConnectionDisconnectedError,
  ConnectionNotFoundError,
  HubError,
  InvalidInvocationError,
} from '@backplane/core';
import { completionWithError, completionWithResult } from '@backplane/hub-protocol';
import { expect, it } from 'vitest';
import { expectHello, rejection, type SuiteContext } from './suite-context.js';

const hello = ['World'] as const;

/**
 * The single-server behaviour every lifetime manager must have, as SignalR's own lifetime-manager tests
 * (`HubLifetimeManagerTestsBase`) check it, with the same assertions and error messages: 12 cases, one
 * manager each.
 */
export function singleServerCases(ctx: SuiteContext): void {
  it('single server - sendAll writes to all connections', async () => {
    const m = await ctx.manager();
    const [c1, c2] = [await ctx.connect(m), await ctx.connect(m)];
    await m.sendAll('Hello', hello);
    await expectHello(c1);
    await expectHello(c2);
  });

  it('single server - sendAll does not write to disconnected connections', async () => {
    const m = await ctx.manager();
    const [c1, c2] = [await ctx.connect(m), await ctx.connect(m)];
    await m.onDisconnected(c2);
    await m.sendAll('Hello', hello);
    await expectHello(c1);
    await c2.expectNothing();
  });

  it('single server - sendGroup writes to group members only', async () => {
    const m = await ctx.manager();
    const [c1, c2] = [await ctx.connect(m), await ctx.connect(m)];
    await m.addToGroup(c1.connectionId, 'group');
    await m.sendGroup('group', 'Hello', hello);
    await expectHello(c1);
    await c2.expectNothing();
  });

  it('single server - sendGroupExcept does not write to excluded connections', async () => {
    const m = await ctx.manager();
    const [c1, c2] = [await ctx.connect(m), await ctx.connect(m)];
    await m.addToGroup(c1.connectionId, 'group1');
    await m.addToGroup(c2.connectionId, 'group1');
    await m.sendGroupExcept('group1', 'Hello', hello, [c2.connectionId]);
    await expectHello(c1);
    await c2.expectNothing();
  });

  it('single server - sendConnection writes to the connection', async () => {
    const m = await ctx.manager();
    const c = await ctx.connect(m);
    await m.sendConnection(c.connectionId, 'Hello', hello);
    await expectHello(c);
  });

  it('single server - client result is returned', async () => {
    const m = await ctx.manager();
    const c1 = await ctx.connect(m);
    const result = m.invokeConnection<number>(c1.connectionId, 'Result', ['test']);
    const invocation = await c1.readInvocation();
    expect(invocation.invocationId).toBeTruthy();
    expect(invocation.arguments[0]).toBe('test');
    await m.setConnectionResult(c1.connectionId, completionWithResult(invocation.invocationId!, 10));
    expect(await result).toBe(10);
  });

  it('single server - client error result rejects with HubError', async () => {
    const m = await ctx.manager();
    const c1 = await ctx.connect(m);
    const result = m.invokeConnection(c1.connectionId, 'Result', ['test']);
    const invocation = await c1.readInvocation();
    await m.setConnectionResult(
      c1.connectionId,
      completionWithError(invocation.invocationId!, 'Error from client'),
    );
    const error = await rejection(result);
    expect(error).toBeInstanceOf(HubError);
    expect(error.message).toBe('Error from client');
  });

  it('single server - a result from the wrong connection is refused and leaves the call pending', async () => {
    const m = await ctx.manager();
    const [c1, c2] = [await ctx.connect(m), await ctx.connect(m)];
    const result = m.invokeConnection<number>(c1.connectionId, 'Result', ['test']);
    const invocation = await c1.readInvocation();
    const id = invocation.invocationId!;
    const error = await rejection(
      m.setConnectionResult(c2.connectionId, completionWithError(id, 'Error from client')),
    );
    expect(error).toBeInstanceOf(InvalidInvocationError);
    expect(error.message).toBe(`Connection ID '${c2.connectionId}' is not valid for invocation ID '${id}'.`);
    await m.setConnectionResult(c1.connectionId, completionWithResult(id, 10));
    expect(await result).toBe(10);
  });

  it('single server - client result for an unknown connection id fails', async () => {
    const m = await ctx.manager();
    await ctx.connect(m);
    const error = await rejection(m.invokeConnection('none', 'Result', ['test']));
    expect(error).toBeInstanceOf(ConnectionNotFoundError);
  });

  it('single server - client results for several clients do not collide', async () => {
    const m = await ctx.manager();
    const [c1, c2] = [await ctx.connect(m), await ctx.connect(m)];
    const i1 = m.invokeConnection<number>(c1.connectionId, 'Result', ['test']);
    const i2 = m.invokeConnection<number>(c2.connectionId, 'Result', ['test']);
    const inv1 = await c1.readInvocation();
    const inv2 = await c2.readInvocation();
    let i1Settled = false;
    void i1.finally(() => {
      i1Settled = true;
    });
    await m.setConnectionResult(c2.connectionId, completionWithError(inv2.invocationId!, 'error'));
    await rejection(i2);
    expect(i1Settled).toBe(false);
    await m.setConnectionResult(c1.connectionId, completionWithResult(inv1.invocationId!, 3));
    expect(await i1).toBe(3);
  });

  it('single server - a client that disconnects without answering fails the call', async () => {
    const m = await ctx.manager();
    const c1 = await ctx.connect(m);
    const result = m.invokeConnection(c1.connectionId, 'Result', ['test']);
    await m.onDisconnected(c1);
    const error = await rejection(result);
    expect(error).toBeInstanceOf(ConnectionDisconnectedError);
    expect(error.message).toBe(`Connection '${c1.connectionId}' disconnected.`);
  });

  it('single server - a client result can be canceled and a late result is ignored', async () => {
    const m = await ctx.manager();
    const c1 = await ctx.connect(m);
    const abort = new AbortController();
    const result = m.invokeConnection(c1.connectionId, 'Result', ['test'], { signal: abort.signal });
    const invocation = await c1.readInvocation();
    abort.abort();
    const error = await rejection(result);
    expect(error).toBeInstanceOf(HubError);
    expect(error.message).toBe('Invocation canceled by the server.');
    await m.setConnectionResult(c1.connectionId, completionWithResult(invocation.invocationId!, 1));
  });
}
