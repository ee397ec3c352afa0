import { describe, expect, it } from 'vitest';
import { Channels } from '../src/channels.js';
import { createConnectionId, createInvocationId, ownerOfConnection } from '../src/ids.js';

describe('channels', () => {
  const channels = new Channels('app:', 'chat');
  it('channels - names are prefix + hub + kind, literal', () => {
    expect(channels.all).toBe('app:chat:all');
    expect(channels.group('*')).toBe('app:chat:group:*');
    expect(channels.user('a b')).toBe('app:chat:user:a b');
    expect(channels.server('node-1-abc')).toBe('app:chat:server:node-1-abc');
    expect(channels.presence).toBe('app:chat:internal:presence');
  });
  it('channels - a group and a user with the same name never share a channel', () => {
    expect(channels.group('x')).not.toBe(channels.user('x'));
  });
  it('channels - owns only its own prefix and hub', () => {
    expect(channels.owns('app:chat:all')).toBe(true);
    expect(channels.owns('app:other:all')).toBe(false);
  });
});

describe('ids', () => {
  it('ids - a connection id names its owning server, whatever the server id contains', () => {
    for (const server of ['s1', 'node.with.dots-1234abcd', 'ü-*']) {
      const id = createConnectionId(server);
      expect(ownerOfConnection(id)).toBe(server);
    }
  });
  it('ids - foreign ids have no owner', () => {
    for (const id of ['1234', 'none', '', 'a.b', `${'x'.repeat(22)}.`])
      expect(ownerOfConnection(id)).toBeUndefined();
  });
  it('ids - a connection id whose server part is over 256 characters has no owner', () => {
    expect(ownerOfConnection(`${'x'.repeat(22)}.${'s'.repeat(256)}`)).toBe('s'.repeat(256));
    expect(ownerOfConnection(`${'x'.repeat(22)}.${'s'.repeat(257)}`)).toBeUndefined();
  });
  it('ids - invocation ids are 22 url-safe characters and unique', () => {
    const ids = new Set(Array.from({ length: 1000 }, createInvocationId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});
