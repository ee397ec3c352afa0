import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HeartbeatBody } from '../src/envelope.js';
import { Presence } from '../src/presence.js';

const INTERVAL = 1_000;

/** A presence of server 'me' whose heartbeats are recorded, following the servers in `followed`. */
function presence(followed: string[] = []) {
  const beats: HeartbeatBody[] = [];
  const p = new Presence({
    serverId: 'me',
    channels: { presence: 'presence' } as never,
    driver: { subscribe: async () => {} },
    publisher: {
      publish: async (_channel, body) => {
        beats.push(body as HeartbeatBody);
        return undefined;
      },
    },
    gaps: { forgetOrigin: () => {} },
    results: { failWhere: () => {} },
    interval: INTERVAL,
    maxTrackedOrigins: 100,
    followed: () => followed,
  });
  return { p, beats, followed };
}

describe('presence follows', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('presence - a silent server whose inbox a live server follows is not gone; it is once the follower stops or falls silent', async () => {
    const { p } = presence();
    await p.start(Date.now());
    p.heard('A', INTERVAL);
    p.heard('B', INTERVAL, ['A']);
    vi.advanceTimersByTime(3 * INTERVAL + 1);
    // A and B both silent now: B's claim counts only while B is alive.
    expect(p.isGone('A')).toBe(true);
    p.heard('B', INTERVAL, ['A']);
    expect(p.isGone('A')).toBe(false);
    expect(p.isGone('B')).toBe(false);
    // B no longer follows A (its adopted sessions ended).
    p.heard('B', INTERVAL);
    expect(p.isGone('A')).toBe(true);
    // A goodbye ends a follower's claims too.
    p.heard('B', INTERVAL, ['A']);
    expect(p.isGone('A')).toBe(false);
    p.heard('B', 0);
    expect(p.isGone('A')).toBe(true);
    await p.close();
  });

  it('presence - heartbeats name the followed servers, and announce() sends one at once', async () => {
    const { p, beats, followed } = presence();
    await p.start(Date.now());
    expect(beats).toEqual([{ kind: 'heartbeat', interval: INTERVAL }]);
    followed.push('A');
    p.announce();
    expect(beats.at(-1)).toEqual({ kind: 'heartbeat', interval: INTERVAL, follows: ['A'] });
    vi.advanceTimersByTime(INTERVAL);
    expect(beats).toHaveLength(3);
    await p.close();
  });
});
