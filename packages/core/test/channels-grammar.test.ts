import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Channels } from '../src/channels.js';
import { InvalidArgumentError } from '../src/errors.js';
import { HubContext } from '../src/hub-context.js';
import { HubLifetimeManager } from '../src/hub-lifetime-manager.js';
import { ControllableDriver, TestBus } from './controllable-driver.js';

type Target = { kind: 'all' } | { kind: 'presence' } | { kind: 'group' | 'user' | 'server'; name: string };

function channelOf(channels: Channels, target: Target): string {
  switch (target.kind) {
    case 'all':
      return channels.all;
    case 'presence':
      return channels.presence;
    case 'group':
      return channels.group(target.name);
    case 'user':
      return channels.user(target.name);
    case 'server':
      return channels.server(target.name);
  }
}

function accepted(prefix: string, hub: string): Channels | undefined {
  try {
    return new Channels(prefix, hub);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return undefined;
  }
}

/**
 * The left inverse of channel naming under the grammar of docs/protocol.md: the prefix is everything up to
 * and including the first ':', the hub runs to the second ':', the rest names the target. Its existence
 * for every accepted input is the proof that naming is injective.
 */
function parse(channel: string): { prefix: string; hub: string; target: Target } {
  const first = channel.indexOf(':');
  const second = channel.indexOf(':', first + 1);
  const prefix = channel.slice(0, first + 1);
  const hub = channel.slice(first + 1, second);
  const rest = channel.slice(second + 1);
  if (rest === 'all') return { prefix, hub, target: { kind: 'all' } };
  if (rest === 'internal:presence') return { prefix, hub, target: { kind: 'presence' } };
  const colon = rest.indexOf(':');
  const kind = rest.slice(0, colon);
  if (kind !== 'group' && kind !== 'user' && kind !== 'server') throw new Error(`not a channel: ${channel}`);
  return { prefix, hub, target: { kind, name: rest.slice(colon + 1) } };
}

// Few characters, ':' and the kind words among them, so that near-collisions are common.
const piece = fc.constantFrom(':', 'a', 'b', 'all', 'group', 'user', 'server', 'internal', 'presence', '');
const text = fc.array(piece, { maxLength: 6 }).map((parts) => parts.join(''));
const target: fc.Arbitrary<Target> = fc.oneof(
  fc.constant<Target>({ kind: 'all' }),
  fc.constant<Target>({ kind: 'presence' }),
  fc.record({ kind: fc.constantFrom('group' as const, 'user' as const, 'server' as const), name: text }),
);
/** Any strings: most are refused, which the validator must do exactly as the grammar says. */
const anyApp = fc.record({ prefix: text, hub: text, target });
/** Only what the grammar accepts, from few pieces, so that distinct apps often share long stretches. */
const segment = fc
  .array(fc.constantFrom('a', 'b', 'all', 'group', 'internal'), { minLength: 1, maxLength: 3 })
  .map((parts) => parts.join(''));
const validApp = fc.record({ prefix: segment.map((s) => `${s}:`), hub: segment, target });

describe('channel grammar', () => {
  it('channels - a prefix must be one non-empty segment ending with ":"', () => {
    for (const prefix of ['', 'a', 'app', ':', 'a:b:', 'achat:group:', ':a:', 'a::'])
      expect(() => new Channels(prefix, 'chat'), JSON.stringify(prefix)).toThrow(InvalidArgumentError);
    for (const prefix of ['a:', 'backplane:', 'my-app.prod:', 'conf-x1-2:', 'ü *:'])
      expect(() => new Channels(prefix, 'chat'), prefix).not.toThrow();
  });

  it('channels - a hub name must be non-empty without ":"', () => {
    for (const hub of ['', ':', 'a:b', 'chat:group:x'])
      expect(() => new Channels('app:', hub), JSON.stringify(hub)).toThrow(InvalidArgumentError);
    for (const hub of ['chat', 'all', 'group', 'hub.with.dots', '/chat'])
      expect(() => new Channels('app:', hub), hub).not.toThrow();
  });

  it("channels - prefixes 'a' and 'achat:group:' can no longer read each other's traffic", () => {
    // Before: prefix 'a' + hub 'chat' group 'chat:all' and prefix 'achat:group:' + hub 'chat' `all` were
    // both 'achat:group:chat:all'.
    expect(accepted('a', 'chat')).toBeUndefined();
    expect(accepted('achat:group:', 'chat')).toBeUndefined();
  });

  it('channels - the manager and the hub context refuse an invalid prefix or hub at construction', () => {
    const driver = new ControllableDriver(new TestBus());
    for (const options of [{ prefix: 'a' }, { prefix: 'a:b:' }, { hub: 'a:b' }, { prefix: '' }]) {
      expect(() => new HubLifetimeManager({ driver, ...options }), JSON.stringify(options)).toThrow(
        InvalidArgumentError,
      );
      expect(() => new HubContext({ driver, ...options }), JSON.stringify(options)).toThrow(
        InvalidArgumentError,
      );
    }
  });

  it('channels - every accepted (prefix, hub, target) is read back from its channel name (property)', () => {
    fc.assert(
      fc.property(anyApp, ({ prefix, hub, target: t }) => {
        const channels = accepted(prefix, hub);
        expect(channels !== undefined).toBe(/^[^:]+:$/.test(prefix) && /^[^:]+$/.test(hub));
        if (channels) expect(parse(channelOf(channels, t))).toEqual({ prefix, hub, target: t });
      }),
      { numRuns: 5_000 },
    );
    fc.assert(
      fc.property(validApp, ({ prefix, hub, target: t }) => {
        expect(parse(channelOf(new Channels(prefix, hub), t))).toEqual({ prefix, hub, target: t });
      }),
      { numRuns: 5_000 },
    );
  });

  it('channels - two distinct accepted (prefix, hub, target) never share a channel name (property)', () => {
    fc.assert(
      fc.property(validApp, validApp, (x, y) => {
        const [cx, cy] = [new Channels(x.prefix, x.hub), new Channels(y.prefix, y.hub)];
        if (channelOf(cx, x.target) === channelOf(cy, y.target)) expect(y).toEqual(x);
      }),
      { numRuns: 20_000 },
    );
  });

  it("channels - kind() names every channel's kind, and 'other' for another prefix or hub's (property)", () => {
    fc.assert(
      fc.property(validApp, validApp, (x, y) => {
        const [cx, cy] = [new Channels(x.prefix, x.hub), new Channels(y.prefix, y.hub)];
        expect(cx.kind(channelOf(cx, x.target))).toBe(x.target.kind);
        const same = x.prefix === y.prefix && x.hub === y.hub;
        expect(cx.kind(channelOf(cy, y.target))).toBe(same ? y.target.kind : 'other');
      }),
      { numRuns: 20_000 },
    );
  });

  it('channels - owns() tells apart every other accepted prefix and hub (property)', () => {
    fc.assert(
      fc.property(validApp, validApp, (x, y) => {
        const [cx, cy] = [new Channels(x.prefix, x.hub), new Channels(y.prefix, y.hub)];
        const same = x.prefix === y.prefix && x.hub === y.hub;
        expect(cx.owns(channelOf(cy, y.target))).toBe(same);
      }),
      { numRuns: 20_000 },
    );
  });
});
