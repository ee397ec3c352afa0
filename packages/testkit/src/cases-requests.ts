import { ConnectionNotFoundError } from '@backplane/core';
import { expect, it } from 'vitest';
import type { SuiteContext } from './suite-context.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Requests about a connection, answered by the server owning it (what the hub server forwards Server-Sent
 * Events and long-polling requests with, so they need no sticky sessions): servers m1 and m2 on one backplane.
 */
export function requestCases(ctx: SuiteContext): void {
  it('requests - the server owning a connection answers requests from another server, each its own answer', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m1);
    m1.setRequestHandler(async ({ connectionId, payload }) =>
      connectionId === c.connectionId ? encoder.encode(`answer to ${decoder.decode(payload)}`) : undefined,
    );
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        m2.request(c.connectionId, encoder.encode(`q${i}`), { timeout: 5_000 }),
      ),
    );
    expect(answers.map((a) => decoder.decode(a))).toEqual(
      Array.from({ length: 50 }, (_, i) => `answer to q${i}`),
    );
  });

  it('requests - a connection its server does not hold is not found', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    m1.setRequestHandler(async () => undefined);
    const id = m1.createConnectionId();
    await expect(m2.request(id, encoder.encode('q'), { timeout: 5_000 })).rejects.toThrow(
      ConnectionNotFoundError,
    );
  });

  it('requests - a 256 KiB answer crosses the broker whole', async () => {
    const [m1, m2] = [await ctx.manager(), await ctx.manager()];
    const c = await ctx.connect(m1);
    const big = new Uint8Array(262_144).map((_, i) => i % 251);
    m1.setRequestHandler(async () => big);
    const answer = await m2.request(c.connectionId, encoder.encode('q'), { timeout: 5_000 });
    expect(Buffer.from(answer).equals(Buffer.from(big))).toBe(true);
  });
}
