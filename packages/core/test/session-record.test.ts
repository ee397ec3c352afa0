import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { SessionError } from '../src/errors.js';
import {
  decodeSessionRecord,
  encodeSessionRecord,
  SESSION_RECORD_VERSION,
  type SessionRecord,
} from '../src/sessions/session-record.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });

const record: SessionRecord = {
  connectionId: 'AAAAAAAAAAAAAAAAAAAAAA.node-1',
  userId: 'ana',
  protocol: 'messagepack',
  holder: 'node-1-0123abcd',
  groups: ['orders', 'news', 'ä€😀'],
  acked: 41,
  received: 7,
  pending: [
    Uint8Array.of(0, 1, 2, 0xff, 0x1e),
    { channel: 'app:chat:group:orders', after: '1700000000000-3', count: 5 },
    { channel: 'app:chat:all', after: '0:17', count: 1 },
    new Uint8Array(0),
  ],
  positions: { 'app:chat:all': '0:17', 'app:chat:group:orders': '1700000000000-8' },
  savedAt: 1_764_000_000_000,
  final: true,
  overflowed: true,
  bound: 1_041,
};

/** The encoded record's fields with `patch` applied (a field patched to `undefined` is left out), encoded again. */
function tampered(patch: Record<string, unknown>): Uint8Array {
  const raw = packr.unpack(encodeSessionRecord(record)) as Record<string, unknown>;
  for (const [field, value] of Object.entries(patch))
    if (value === undefined) delete raw[field];
    else raw[field] = value;
  return packr.pack(raw);
}

function malformed(bytes: Uint8Array): string {
  try {
    decodeSessionRecord(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(SessionError);
    expect((error as SessionError).reason).toBe('malformed');
    return (error as SessionError).message;
  }
  throw new Error('expected a malformed record');
}

describe('session record', () => {
  it('session record - round trip: every field, byte frames and runs of log entries in their order', () => {
    const decoded = decodeSessionRecord(encodeSessionRecord(record));
    expect({
      ...decoded,
      pending: decoded.pending.map((p) => (p instanceof Uint8Array ? Uint8Array.from(p) : p)),
    }).toEqual(record);
  });

  it('session record - round trip: an anonymous session without pending frames or positions, neither final nor overflowed', () => {
    const plain: SessionRecord = {
      ...record,
      userId: undefined,
      pending: [],
      positions: {},
      final: false,
      overflowed: false,
    };
    expect(decodeSessionRecord(encodeSessionRecord(plain))).toEqual(plain);
  });

  it('session record - a record of another version is refused', () => {
    expect(SESSION_RECORD_VERSION).toBe(1);
    for (const v of [0, 2, '1', undefined]) expect(malformed(tampered({ v }))).toMatch(/version/);
  });

  it('session record - bytes that are not MessagePack, or not a map, are refused', () => {
    expect(malformed(Uint8Array.of(0x81))).toMatch(/MessagePack/); // a map cut short
    expect(malformed(Uint8Array.of(...encodeSessionRecord(record), 0x05))).toMatch(/MessagePack/);
    malformed(Uint8Array.of(0xc1)); // the byte MessagePack never uses
    malformed(new Uint8Array(0));
    malformed(packr.pack(1));
    malformed(packr.pack(null));
    malformed(packr.pack('record'));
  });

  it('session record - fields of the wrong type are refused', () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['connection id', { c: 5 }],
      ['user id', { u: 5 }],
      ['protocol', { p: undefined }],
      ['holder', { h: ['x'] }],
      ['groups', { g: 'orders' }],
      ['group', { g: ['orders', 3] }],
      ['acked', { k: -1 }],
      ['acked', { k: 1.5 }],
      ['received', { r: '7' }],
      ['pending', { q: {} }],
      ['pending frame', { q: ['text'] }],
      ['pending frame', { q: [['app:chat:all', '0:1']] }],
      ['pending channel', { q: [[1, '0:1', 1]] }],
      ['pending position', { q: [['app:chat:all', 1, 1]] }],
      ['pending count', { q: [['app:chat:all', '0:1', -2]] }],
      ['positions', { o: null }],
      ['position', { o: { 'app:chat:all': 17 } }],
      ['saved at', { t: 'now' }],
    ];
    for (const [what, change] of cases) expect(malformed(tampered(change)), what).toContain(what);
  });
});
