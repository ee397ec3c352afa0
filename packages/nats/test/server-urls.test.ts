import { InvalidArgumentError } from '@backplane/core';
import { describe, expect, it } from 'vitest';
import { hostOf, parseServers } from '../src/server-urls.js';

describe('server urls', () => {
  it('server urls - hostOf reads the host of an advertised host:port, an IPv6 address without its brackets', () => {
    expect(['10.0.0.7:4222', 'nats-1.internal:4222', '[fe80::1]:4222', 'bare'].map(hostOf)).toEqual([
      '10.0.0.7',
      'nats-1.internal',
      'fe80::1',
      'bare',
    ]);
  });

  it('server urls - a comma-separated list; entries without a scheme take the previous one; port 4222 by default', () => {
    expect(parseServers('nats://a:1, b:2,nats://c')).toEqual({
      servers: ['nats://a:1', 'nats://b:2', 'nats://c:4222'],
      tls: false,
    });
    expect(parseServers(['nats://a:1,b:2', 'c:3']).servers).toEqual([
      'nats://a:1',
      'nats://b:2',
      'nats://c:3',
    ]);
  });

  it('server urls - credentials become the connection user and password (or token) and leave the URLs', () => {
    expect(parseServers('nats://u:p%40ss@a:1,b:2')).toEqual({
      servers: ['nats://a:1', 'nats://b:2'],
      user: 'u',
      pass: 'p@ss',
      tls: false,
    });
    expect(parseServers('nats://s3cret@a:1')).toMatchObject({ token: 's3cret', servers: ['nats://a:1'] });
  });

  it('server urls - tls:// requires TLS', () => {
    expect(parseServers('tls://a:1,b:2')).toEqual({ servers: ['tls://a:1', 'tls://b:2'], tls: true });
  });

  it('server urls - mixed schemes, differing credentials, other schemes and an empty list are refused without echoing secrets', () => {
    const bad = [
      'nats://a:1,tls://b:2',
      'nats://u:p@a:1,nats://v:q@b:2',
      'ws://a:1',
      'http://u:secret@a',
      ' , ',
    ];
    for (const input of bad) {
      expect(() => parseServers(input), input).toThrow(InvalidArgumentError);
      try {
        parseServers(input);
      } catch (error) {
        expect((error as Error).message).not.toContain('secret');
      }
    }
  });
});
