import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HeartbeatBody } from '../src/envelope.js';
import { MAX_ANNOUNCED_ADOPTIONS, Presence } from '../src/presence.js';

const INTERVAL = 1_000;

/** A connection id minted by `server` (22 characters, a dot, the server id). */
const id = (server: string, name: string) => `${name.padStart(22, '0')}.${server}`;

/** A presence of server 'me' whose heartbeats are recorded, holding the adopted connections in `adopted`. */
function presence(adopted: string[] = []) {
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
    adopted: () => adopted,
  });
  return { p, beats, adopted };
}

describe('presence adopted connections', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("presence - a gone server's connection that a live server announces as adopted is not gone; its others are", async () => {
    const { p } = presence();
    await p.start(Date.now());
    p.heard('A', INTERVAL);
    p.heard('B', INTERVAL, [id('A', 'moved')]);
    vi.advanceTimersByTime(3 * INTERVAL + 1);
    // A and B both silent now: B's announcement counts only while B is alive.
    expect(p.isConnectionGone(id('A', 'moved'))).toBe(true);
    p.heard('B', INTERVAL, [id('A', 'moved')]);
    expect(p.isConnectionGone(id('A', 'moved'))).toBe(false);
    expect(p.isConnectionGone(id('A', 'stayed'))).toBe(true);
    // B no longer holds it (the client left).
    p.heard('B', INTERVAL);
    expect(p.isConnectionGone(id('A', 'moved'))).toBe(true);
    // A goodbye ends a server's announcements too.
    p.heard('B', INTERVAL, [id('A', 'moved')]);
    expect(p.isConnectionGone(id('A', 'moved'))).toBe(false);
    p.heard('B', 0);
    expect(p.isConnectionGone(id('A', 'moved'))).toBe(true);
    // Ids that name no server exist nowhere; a live server's connections are not gone.
    expect(p.isConnectionGone('no-dot')).toBe(true);
    p.heard('C', INTERVAL);
    expect(p.isConnectionGone(id('C', 'any'))).toBe(false);
    await p.close();
  });

  it('presence - heartbeats name the adopted connections (at most MAX_ANNOUNCED_ADOPTIONS); a new adoption is announced soon, once for a burst', async () => {
    const { p, beats, adopted } = presence();
    await p.start(Date.now());
    expect(beats).toEqual([{ kind: 'heartbeat', interval: INTERVAL }]);
    adopted.push(id('A', '1'));
    p.announce();
    adopted.push(id('A', '2'));
    p.announce();
    expect(beats).toHaveLength(1);
    vi.advanceTimersByTime(INTERVAL / 2);
    expect(beats).toEqual([
      { kind: 'heartbeat', interval: INTERVAL },
      { kind: 'heartbeat', interval: INTERVAL, adopted: [id('A', '1'), id('A', '2')] },
    ]);
    adopted.push(...Array.from({ length: MAX_ANNOUNCED_ADOPTIONS + 5 }, (_, i) => id('B', String(i))));
    vi.advanceTimersByTime(INTERVAL / 2);
    expect(beats.at(-1)?.adopted).toHaveLength(MAX_ANNOUNCED_ADOPTIONS);
    await p.close();
    // Nothing after the goodbye, an announcement asked for while closing included.
    p.announce();
    vi.advanceTimersByTime(INTERVAL * 2);
    expect(beats.at(-1)).toEqual({ kind: 'heartbeat', interval: 0 });
  });
});
