import type { IncomingMessage } from 'node:http';
import { InvalidArgumentError } from '@backplane/core';
import { ProtocolError } from '@backplane/hub-protocol';
import { describe, expect, it } from 'vitest';
import { bearerToken } from '../src/auth.js';
import { ConnectionTokens, RedeemedTokens } from '../src/connection-token.js';
import { HubServer, signJwt, UnauthorizedError, verifyJwt } from '../src/index.js';
import { KeepAlive } from '../src/keep-alive.js';
import { RecordReader } from '../src/record-reader.js';
import { SequenceBuffer } from '../src/sequence-buffer.js';

/**
 * The token with the last character of its signature swapped for the one that decodes to the same bytes
 * (a 32-byte HMAC in 43 base64url characters leaves 2 bits of the last one unused).
 */
function withOtherLastCharacter(token: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(token.at(-1)!);
  return `${token.slice(0, -1)}${alphabet[last ^ 1]}`;
}

const bytes = (text: string) => new TextEncoder().encode(text);
const str = (data: Uint8Array) => new TextDecoder().decode(data);

describe('record reader', () => {
  it('record reader - text records: whole ones out, the tail kept, the limit per record', () => {
    const reader = new RecordReader('text', 10);
    expect(str(reader.push(bytes('abc\u001ede')))).toBe('abc\u001e');
    expect(str(reader.push(bytes('f\u001e')))).toBe('def\u001e');
    expect(() => reader.push(bytes('0123456789x'))).toThrow(ProtocolError); // an unterminated tail over the limit
    expect(() => new RecordReader('text', 4).push(bytes('abcd\u001e'))).toThrow('maximum message size of 4B');
  });

  it('record reader - binary records: split prefixes and bodies, an announced length over the limit fails at once', () => {
    const reader = new RecordReader('binary', 200);
    const record = new Uint8Array([130, 1, ...new Array(130).fill(7)]); // VarInt 130 = 0x82 0x01
    expect(reader.push(record.subarray(0, 1)).byteLength).toBe(0);
    expect(reader.push(record.subarray(1, 50)).byteLength).toBe(0);
    expect(reader.push(record.subarray(50)).byteLength).toBe(132);
    expect(() => new RecordReader('binary', 100).push(new Uint8Array([130, 1]))).toThrow(
      'maximum message size',
    );
  });

  it('record reader - held bytes are checked against the limit and come out, whole records only, on the next push', () => {
    const reader = new RecordReader('text', 10);
    reader.hold(bytes('abc\u001ed'));
    reader.hold(bytes('ef\u001egh'));
    expect(str(reader.push(new Uint8Array(0)))).toBe('abc\u001edef\u001e');
    expect(str(reader.push(bytes('\u001e')))).toBe('gh\u001e');
    expect(() => reader.hold(bytes('0123456789x'))).toThrow('maximum message size of 10B');
  });
});

describe('options', () => {
  it('options - maximumQueuedInvocationsPerClient is an integer, 0 or more; transportMaxBufferSize is positive', () => {
    expect(() => new HubServer({ maximumQueuedInvocationsPerClient: 0 })).not.toThrow();
    for (const bad of [-1, 1.5, Number.NaN])
      expect(() => new HubServer({ maximumQueuedInvocationsPerClient: bad })).toThrow(InvalidArgumentError);
    for (const bad of [0, -1, Number.POSITIVE_INFINITY])
      expect(() => new HubServer({ transportMaxBufferSize: bad })).toThrow(InvalidArgumentError);
  });
});

describe('sequence buffer', () => {
  it('sequence buffer - acked frames leave; overflow forbids a resume until an ack covers the dropped frames', () => {
    const buffer = new SequenceBuffer(10);
    for (let i = 0; i < 4; i++) buffer.sent(new Uint8Array(4)); // ids 1..4, 16 bytes > 10: ids 1, 2 dropped
    expect(buffer.overflowed).toBe(true);
    expect(buffer.resend().sequenceId).toBe(3);
    buffer.ack(2);
    expect(buffer.overflowed).toBe(false);
    buffer.ack(4);
    expect(buffer.resend()).toEqual({ sequenceId: 5, frames: [] });
  });

  it('sequence buffer - received ids rewind on Sequence, repeats are dropped, a Sequence from the future is refused', () => {
    const buffer = new SequenceBuffer(100);
    expect([buffer.received(), buffer.received()]).toEqual([true, true]);
    expect(buffer.resetReceive(2)).toBe(true);
    expect([buffer.received(), buffer.received()]).toEqual([false, true]);
    expect(buffer.latestReceived).toBe(3);
    expect(buffer.resetReceive(9)).toBe(false);
  });

  it('sequence buffer - an adopted session: ids continue from acked, resends its old server handled are dropped', () => {
    const buffer = SequenceBuffer.adopted(1_000, 5, 3);
    expect(buffer.acked).toBe(5);
    expect(buffer.latestReceived).toBe(3);
    expect(buffer.resend()).toEqual({ sequenceId: 6, frames: [] });
    const frame = bytes('six');
    buffer.sent(frame);
    expect(buffer.resend()).toEqual({ sequenceId: 6, frames: [frame] });
    expect(buffer.unacked()).toEqual([{ frame, source: undefined }]);
    buffer.ack(6);
    expect(buffer.acked).toBe(6);
    expect(buffer.resend()).toEqual({ sequenceId: 7, frames: [] });
    // The client resends from its first unacknowledged message, 2: 2 and 3 were handled by the old server.
    expect(buffer.resetReceive(2)).toBe(true);
    expect([buffer.received(), buffer.received(), buffer.received(), buffer.received()]).toEqual([
      false,
      false,
      true,
      true,
    ]);
    expect(buffer.latestReceived).toBe(5);
  });

  it("sequence buffer - an adopted session: the client's first Sequence may jump ahead of the record, a later one may not", () => {
    const buffer = SequenceBuffer.adopted(1_000, 0, 3);
    // The old server handled (and acked) 4 and 5 after its last record: the client resends from 6.
    expect(buffer.resetReceive(6)).toBe(true);
    expect(buffer.latestReceived).toBe(5);
    expect(buffer.received()).toBe(true);
    expect(buffer.latestReceived).toBe(6);
    expect(buffer.resetReceive(9)).toBe(false);
    expect(buffer.resetReceive(7)).toBe(true);
    expect(buffer.received()).toBe(true);
    // A buffer that was not adopted refuses a jump from the first Sequence on.
    expect(new SequenceBuffer(1_000).resetReceive(2)).toBe(false);
  });
});

describe('tokens', () => {
  it('connection tokens - round trip, forged or re-signed tokens are unreadable', () => {
    const tokens = new ConnectionTokens('s1');
    const token = tokens.issue({
      hub: '/chat',
      connectionId: 'c.node',
      userId: 'ada',
      claims: { sub: 'ada', role: 'x' },
      expiresAt: 42,
      statefulReconnect: true,
    });
    expect(tokens.read(token)).toMatchObject({
      connectionId: 'c.node',
      userId: 'ada',
      expiresAt: 42,
      statefulReconnect: true,
    });
    expect(new ConnectionTokens('s2').read(token)).toBeUndefined();
    expect(tokens.read(`x${token}`)).toBeUndefined();
    expect(tokens.read('garbage')).toBeUndefined();
  });

  it('redeemed tokens - remembered until they expire', () => {
    const tokens = new ConnectionTokens('s');
    const ticket = (expiresAt: number) =>
      tokens.read(
        tokens.issue({
          hub: '/chat',
          connectionId: 'c',
          userId: undefined,
          claims: {},
          expiresAt,
          statefulReconnect: false,
        }),
      )!;
    const redeemed = new RedeemedTokens();
    const old = ticket(1_000);
    redeemed.add(old, 500);
    expect(redeemed.has(old)).toBe(true);
    const fresh = ticket(5_000);
    redeemed.add(fresh, 2_000); // prunes the expired one
    expect(redeemed.has(old)).toBe(false);
    expect(redeemed.has(fresh)).toBe(true);
  });

  it('jwt - HS256 verified with exp/nbf leeway; other algorithms and bad signatures refused', () => {
    const now = 1_700_000_000_000;
    const s = now / 1000;
    expect(verifyJwt(signJwt({ sub: 'a', exp: s + 10 }, 'k'), 'k', { now })).toMatchObject({ sub: 'a' });
    expect(verifyJwt(signJwt({ sub: 'a', exp: s - 10 }, 'k'), 'k', { now })).toMatchObject({ sub: 'a' }); // within 30 s
    expect(() => verifyJwt(signJwt({ sub: 'a', exp: s - 60 }, 'k'), 'k', { now })).toThrow('Token expired.');
    expect(() => verifyJwt(signJwt({ sub: 'a', nbf: s + 60 }, 'k'), 'k', { now })).toThrow(
      'Token not yet valid.',
    );
    expect(() =>
      verifyJwt(signJwt({ sub: 'a', exp: s - 10 }, 'k'), 'k', { now, clockSkewSeconds: 0 }),
    ).toThrow('Token expired.');
    expect(() => verifyJwt(signJwt({ sub: 'a' }, 'k'), 'other', { now })).toThrow(UnauthorizedError);
    expect(() => verifyJwt('a.b', 'k', { now })).toThrow('Malformed token.');
  });

  it('jwt - a non-numeric exp or nbf makes the token invalid', () => {
    for (const claims of [{ exp: '1' }, { exp: null }, { exp: true }, { nbf: '99999999999' }, { nbf: [1] }])
      expect(() => verifyJwt(signJwt({ sub: 'a', ...claims }, 'k'), 'k'), JSON.stringify(claims)).toThrow(
        UnauthorizedError,
      );
  });

  it('jwt - only the exact base64url signature is accepted (no trailing junk, no other spelling)', () => {
    const token = signJwt({ sub: 'a' }, 'k');
    expect(verifyJwt(token, 'k')).toMatchObject({ sub: 'a' });
    for (const junk of ['=', '!!', '~', ' ', '$x'])
      expect(() => verifyJwt(`${token}${junk}`, 'k'), junk).toThrow('Invalid token signature.');
    expect(() => verifyJwt(withOtherLastCharacter(token), 'k')).toThrow('Invalid token signature.');
  });

  it('jwt - issuer and audience are checked when configured (aud a string or an array)', () => {
    const iss = 'https://issuer.test';
    const check = (claims: Record<string, unknown>) =>
      verifyJwt(signJwt({ sub: 'a', ...claims }, 'k'), 'k', { issuer: iss, audience: 'hub' });
    expect(check({ iss, aud: 'hub' })).toMatchObject({ sub: 'a' });
    expect(check({ iss, aud: ['other', 'hub'] })).toMatchObject({ sub: 'a' });
    expect(() => check({ aud: 'hub' })).toThrow('Invalid token issuer.');
    expect(() => check({ iss: 'https://evil.test', aud: 'hub' })).toThrow('Invalid token issuer.');
    expect(() => check({ iss })).toThrow('Invalid token audience.');
    expect(() => check({ iss, aud: 'other' })).toThrow('Invalid token audience.');
    expect(() => check({ iss, aud: ['other'] })).toThrow('Invalid token audience.');
    // Not configured: not checked.
    expect(verifyJwt(signJwt({ sub: 'a', iss: 'x', aud: 'y' }, 'k'), 'k')).toMatchObject({ sub: 'a' });
  });

  it('connection tokens - only the exact base64url signature is accepted (no trailing junk, no other spelling)', () => {
    const tokens = new ConnectionTokens('s');
    const token = tokens.issue({
      hub: '/chat',
      connectionId: 'c',
      userId: 'ada',
      claims: {},
      expiresAt: 42,
      statefulReconnect: false,
    });
    expect(tokens.read(token)).toBeDefined();
    for (const junk of ['=', '!!', '~', ' ', '$x'])
      expect(tokens.read(`${token}${junk}`), junk).toBeUndefined();
    expect(tokens.read(withOtherLastCharacter(token))).toBeUndefined();
  });

  it('auth - the Bearer scheme is matched case-insensitively', () => {
    const url = new URL('http://localhost/chat');
    const request = (authorization: string) => ({ headers: { authorization } }) as IncomingMessage;
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR'])
      expect(bearerToken(request(`${scheme} abc`), url), scheme).toBe('abc');
    expect(bearerToken(request('Basic abc'), url)).toBeUndefined();
    expect(bearerToken(request('Bearerabc'), url)).toBeUndefined();
  });
});

describe('keep-alive', () => {
  it('keep-alive - ping after keepAliveInterval of sending nothing, timeout after clientTimeoutInterval of silence', () => {
    const k = new KeepAlive(
      { keepAliveInterval: 15, clientTimeoutInterval: 30, handshakeTimeout: 5 },
      false,
      0,
    );
    expect(k.due(false, 4)).toBeUndefined();
    expect(k.due(false, 5)).toBe('handshake-timeout');
    expect(k.due(true, 14)).toBeUndefined();
    expect(k.due(true, 15)).toBe('ping');
    k.sent(15);
    k.received(20);
    expect(k.due(true, 29)).toBeUndefined();
    expect(k.due(true, 51)).toBe('client-timeout');
    const polling = new KeepAlive(
      { keepAliveInterval: 15, clientTimeoutInterval: 30, handshakeTimeout: 5 },
      true,
      0,
    );
    expect(polling.due(true, 1_000)).toBeUndefined();
  });

  it('keep-alive - a send noted without a time counts from the next tick: no ping while sends go on', () => {
    const k = new KeepAlive(
      { keepAliveInterval: 15, clientTimeoutInterval: 1_000, handshakeTimeout: 5 },
      false,
      0,
    );
    k.sent();
    expect(k.due(true, 10)).toBeUndefined(); // the send is dated 10
    expect(k.due(true, 24)).toBeUndefined();
    expect(k.due(true, 25)).toBe('ping');
  });
});
