import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../src/envelope.js';
import { decodeEnvelope, encodeEnvelope, ownEnvelopeReader } from '../src/envelope-codec.js';
import { EnvelopeError } from '../src/errors.js';

const header = { v: 1, origin: 'S', epoch: 'e', seq: 7 } as const;
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex').replace(/(..)/g, '$1 ').trim();

describe('envelope codec', () => {
  const cases: Envelope[] = [
    { ...header, kind: 'invocation', payloads: new Map([['json', new Uint8Array([0x2a])]]) },
    {
      ...header,
      kind: 'invocation',
      payloads: new Map([
        ['json', new Uint8Array([1])],
        ['messagepack', new Uint8Array([2, 3])],
      ]),
      exclude: ['a', 'b'],
      connectionIds: ['c'],
      invocationId: 'inv',
      groups: ['g1', 'g2'],
      batch: 3,
    },
    { ...header, kind: 'group-command', id: 42, action: 'add', group: 'G', connectionId: 'C' },
    { ...header, kind: 'group-command', id: 42, action: 'remove', group: 'G', connectionId: 'C' },
    { ...header, kind: 'ack', id: 70000 },
    { ...header, kind: 'probe', id: 0 },
    { ...header, kind: 'heartbeat', interval: 2000 },
    { ...header, kind: 'heartbeat', interval: 0 },
    {
      ...header,
      kind: 'completion',
      invocationId: 'i',
      connectionId: 'c',
      outcome: 'result',
      value: { a: [1, 'x'] },
    },
    { ...header, kind: 'completion', invocationId: 'i', connectionId: 'c', outcome: 'error', value: 'boom' },
    { ...header, kind: 'completion', invocationId: 'i', connectionId: 'c', outcome: 'void' },
    { ...header, kind: 'completion', invocationId: 'i', connectionId: 'c', outcome: 'disconnected' },
    { ...header, kind: 'completion', invocationId: 'i', connectionId: 'c', outcome: 'not-found' },
    { ...header, kind: 'request', id: 9, connectionId: 'c', ttl: 95_000, payload: new Uint8Array([1, 2]) },
    { ...header, kind: 'reply', id: 9, outcome: 'ok', payload: new Uint8Array([3]) },
    { ...header, kind: 'reply', id: 9, outcome: 'ok', payload: new Uint8Array(0) },
    { ...header, kind: 'reply', id: 9, outcome: 'not-found' },
    { ...header, kind: 'reply', id: 9, outcome: 'busy' },
    { ...header, kind: 'reply', id: 9, outcome: 'error' },
  ];

  for (const envelope of cases) {
    it(`envelope codec - round-trips ${envelope.kind} ${JSON.stringify(Object.keys(envelope))}`, () => {
      const decoded = decodeEnvelope(encodeEnvelope(envelope));
      if (decoded.kind === 'invocation') {
        // Payloads decode as Buffers (a Uint8Array view, no copy); compare bytes.
        const bytes = new Map([...decoded.payloads].map(([k, v]) => [k, new Uint8Array(v)]));
        expect({ ...decoded, payloads: bytes }).toEqual(envelope);
      } else if ((decoded.kind === 'request' || decoded.kind === 'reply') && decoded.payload) {
        expect({ ...decoded, payload: new Uint8Array(decoded.payload) }).toEqual(envelope);
      } else {
        expect(decoded).toEqual(envelope);
      }
    });
  }

  it('envelope codec - writes the documented bytes (docs/protocol.md)', () => {
    expect(hex(encodeEnvelope({ ...header, kind: 'ack', id: 42 }))).toBe('96 01 a1 53 a1 65 07 03 2a');
    expect(
      hex(
        encodeEnvelope({
          ...header,
          kind: 'group-command',
          id: 42,
          action: 'add',
          group: 'G',
          connectionId: 'C',
        }),
      ),
    ).toBe('99 01 a1 53 a1 65 07 02 2a 01 a1 47 a1 43');
    expect(
      hex(
        encodeEnvelope({
          ...header,
          kind: 'invocation',
          payloads: new Map([['json', new Uint8Array([0x2a])]]),
        }),
      ),
    ).toBe('96 01 a1 53 a1 65 07 01 81 a4 6a 73 6f 6e c4 01 2a');
    const payload = new Uint8Array([1, 2]);
    expect(
      hex(encodeEnvelope({ ...header, kind: 'request', id: 9, connectionId: 'c', ttl: 95_000, payload })),
    ).toBe('99 01 a1 53 a1 65 07 07 09 a1 63 ce 00 01 73 18 c4 02 01 02');
    expect(
      hex(encodeEnvelope({ ...header, kind: 'reply', id: 9, outcome: 'ok', payload: new Uint8Array([3]) })),
    ).toBe('98 01 a1 53 a1 65 07 08 09 01 c4 01 03');
  });

  it('envelope codec - ignores unknown trailing fields (forward compatibility)', () => {
    const packr = new Packr({ useRecords: false });
    const bytes = packr.pack([1, 'S', 'e', 7, 3, 42, 'future', { x: 1 }]);
    expect(decodeEnvelope(bytes)).toEqual({ ...header, kind: 'ack', id: 42 });
  });

  it('envelope codec - an ack may carry the limit that refused the command', () => {
    const refused = {
      ...header,
      kind: 'ack' as const,
      id: 42,
      refused: { limit: 'maxGroupsPerConnection' as const, max: 3 },
    };
    expect(decodeEnvelope(encodeEnvelope(refused))).toEqual(refused);
    expect(hex(encodeEnvelope(refused))).toBe(
      '98 01 a1 53 a1 65 07 03 2a b6 6d 61 78 47 72 6f 75 70 73 50 65 72 43 6f 6e 6e 65 63 74 69 6f 6e 03',
    );
  });

  const packr = new Packr({ useRecords: false });
  const bad: Array<[string, Uint8Array]> = [
    ['not MessagePack', new Uint8Array([0xc1])],
    ['empty', new Uint8Array(0)],
    ['not an array', packr.pack({ v: 1 })],
    ['too short', packr.pack([1, 'S', 'e'])],
    ['unknown version', packr.pack([2, 'S', 'e', 1, 3, 1])],
    ['empty origin', packr.pack([1, '', 'e', 1, 3, 1])],
    ['negative seq', packr.pack([1, 'S', 'e', -1, 3, 1])],
    ['unknown kind', packr.pack([1, 'S', 'e', 1, 99])],
    ['payloads not a map', packr.pack([1, 'S', 'e', 1, 1, [1, 2]])],
    ['payload not binary', packr.pack([1, 'S', 'e', 1, 1, { json: 'text' }])],
    ['exclude not strings', packr.pack([1, 'S', 'e', 1, 1, {}, [1]])],
    ['bad group action', packr.pack([1, 'S', 'e', 1, 2, 1, 3, 'G', 'C'])],
    ['ack without id', packr.pack([1, 'S', 'e', 1, 3])],
    ['unknown outcome', packr.pack([1, 'S', 'e', 1, 4, 'i', 'c', 9])],
    ['error outcome without message', packr.pack([1, 'S', 'e', 1, 4, 'i', 'c', 1, 5])],
    ['request payload not binary', packr.pack([1, 'S', 'e', 1, 7, 1, 'c', 10, 'text'])],
    ['request without ttl', packr.pack([1, 'S', 'e', 1, 7, 1, 'c'])],
    ['request connection id not a string', packr.pack([1, 'S', 'e', 1, 7, 1, 5, 10, new Uint8Array(1)])],
    ['unknown reply outcome', packr.pack([1, 'S', 'e', 1, 8, 1, 9])],
    ['ok reply without payload', packr.pack([1, 'S', 'e', 1, 8, 1, 1])],
    ['reply payload not binary', packr.pack([1, 'S', 'e', 1, 8, 1, 2, 'x'])],
  ];
  for (const [what, bytes] of bad) {
    it(`envelope codec - rejects ${what} with EnvelopeError`, () => {
      expect(() => decodeEnvelope(bytes, 'chan')).toThrow(EnvelopeError);
    });
  }

  it("envelope codec - reads the kind of our own envelopes from the header alone, and nobody else's", () => {
    const own = ownEnvelopeReader('node-a-0123abcd', 'epoch-1');
    const header = { v: 1 as const, origin: 'node-a-0123abcd', epoch: 'epoch-1' };
    const payloads = new Map([['json', new Uint8Array([1, 2])]]);
    for (const seq of [
      0,
      127,
      128,
      255,
      256,
      65_535,
      65_536,
      2 ** 32 - 1,
      2 ** 32,
      Number.MAX_SAFE_INTEGER,
    ]) {
      expect(own(encodeEnvelope({ ...header, seq, kind: 'invocation', payloads }))).toBe('invocation');
      expect(own(encodeEnvelope({ ...header, seq, kind: 'probe', id: 7 }))).toBe('probe');
    }
    expect(own(encodeEnvelope({ ...header, seq: 3, kind: 'heartbeat', interval: 2000 }))).toBe('heartbeat');
    expect(
      own(encodeEnvelope({ ...header, origin: 'node-b-0123abcd', seq: 1, kind: 'probe', id: 1 })),
    ).toBeUndefined();
    expect(
      own(encodeEnvelope({ ...header, epoch: 'epoch-2', seq: 1, kind: 'probe', id: 1 })),
    ).toBeUndefined();
    // A prefix of our origin is someone else.
    expect(
      own(encodeEnvelope({ ...header, origin: 'node-a-0123abc', seq: 1, kind: 'probe', id: 1 })),
    ).toBeUndefined();
    for (const junk of [new Uint8Array(0), new Uint8Array([0x93]), new Uint8Array([0xff, 1, 2, 3, 4, 5, 6])])
      expect(own(junk)).toBeUndefined();
  });

  it('envelope codec - fuzzed bytes never throw anything but EnvelopeError', () => {
    let seed = 1;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const valid = encodeEnvelope(cases[1]!);
    for (let i = 0; i < 2000; i++) {
      const bytes = Uint8Array.from(valid);
      for (let j = 0; j < 1 + (rnd() % 4); j++) bytes[rnd() % bytes.length] = rnd() & 0xff;
      const cut = bytes.subarray(0, rnd() % (bytes.length + 1));
      try {
        decodeEnvelope(cut);
      } catch (error) {
        expect(error).toBeInstanceOf(EnvelopeError);
      }
    }
  });
});
