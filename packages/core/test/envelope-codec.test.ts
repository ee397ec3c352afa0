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
    { ...header, kind: 'heartbeat', interval: 2000, adopted: ['S1.c1', 'S2.c2'] },
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
    { ...header, seq: 0, kind: 'presence-query', id: 1, query: 'connections', limit: 1000 },
    { ...header, seq: 0, kind: 'presence-query', id: 2, query: 'group', name: 'G', limit: 5 },
    { ...header, seq: 0, kind: 'presence-query', id: 3, query: 'user', name: 'U', limit: 0 },
    { ...header, seq: 0, kind: 'presence-query', id: 4, query: 'user-connections', name: 'U', limit: 9 },
    { ...header, seq: 0, kind: 'presence-query', id: 5, query: 'connection-groups', name: 'C', limit: 9 },
    { ...header, seq: 0, kind: 'presence-answer', id: 1, count: 70000 },
    { ...header, seq: 0, kind: 'presence-answer', id: 2, count: 3, ids: ['a', 'b'], peers: ['S2', 'S3'] },
    { ...header, seq: 0, kind: 'presence-answer', id: 3, count: 0, ids: [] },
    { ...header, seq: 0, kind: 'presence-answer', id: 4, count: 0, peers: [] },
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
    expect(
      hex(
        encodeEnvelope({
          ...header,
          seq: 0,
          kind: 'presence-query',
          id: 9,
          query: 'group',
          name: 'G',
          limit: 100,
        }),
      ),
    ).toBe('99 01 a1 53 a1 65 00 07 09 02 a1 47 64');
    expect(
      hex(
        encodeEnvelope({
          ...header,
          seq: 0,
          kind: 'presence-query',
          id: 9,
          query: 'connections',
          limit: 100,
        }),
      ),
    ).toBe('99 01 a1 53 a1 65 00 07 09 01 c0 64');
    expect(
      hex(encodeEnvelope({ ...header, seq: 0, kind: 'presence-answer', id: 9, count: 2, ids: ['A', 'B'] })),
    ).toBe('98 01 a1 53 a1 65 00 08 09 02 92 a1 41 a1 42');
    const payload = new Uint8Array([1, 2]);
    expect(
      hex(encodeEnvelope({ ...header, kind: 'request', id: 9, connectionId: 'c', ttl: 95_000, payload })),
    ).toBe('99 01 a1 53 a1 65 07 09 09 a1 63 ce 00 01 73 18 c4 02 01 02');
    expect(
      hex(encodeEnvelope({ ...header, kind: 'reply', id: 9, outcome: 'ok', payload: new Uint8Array([3]) })),
    ).toBe('98 01 a1 53 a1 65 07 0a 09 01 c4 01 03');
  });

  it('envelope codec - ignores unknown trailing fields (forward compatibility)', () => {
    const packr = new Packr({ useRecords: false });
    const bytes = packr.pack([1, 'S', 'e', 7, 3, 42, 'future', { x: 1 }]);
    expect(decodeEnvelope(bytes)).toEqual({ ...header, kind: 'ack', id: 42 });
  });

  it('envelope codec - a heartbeat whose adopted list does not read keeps its sender alive: the list is left out', () => {
    const packr = new Packr({ useRecords: false });
    for (const adopted of [[1], 'x', { a: 1 }])
      expect(decodeEnvelope(packr.pack([1, 'S', 'e', 7, 6, 2000, adopted]))).toEqual({
        ...header,
        kind: 'heartbeat',
        interval: 2000,
      });
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
    ['presence query without id', packr.pack([1, 'S', 'e', 0, 7])],
    ['unknown presence query', packr.pack([1, 'S', 'e', 0, 7, 1, 6, 'G', 5])],
    ['presence query without limit', packr.pack([1, 'S', 'e', 0, 7, 1, 2, 'G'])],
    ['presence query naming a number', packr.pack([1, 'S', 'e', 0, 7, 1, 2, 5, 5])],
    ['connections query naming something', packr.pack([1, 'S', 'e', 0, 7, 1, 1, 'G', 5])],
    ['presence answer with a negative count', packr.pack([1, 'S', 'e', 0, 8, 1, -1])],
    ['presence answer ids not strings', packr.pack([1, 'S', 'e', 0, 8, 1, 1, [1]])],
    ['presence answer peers not an array', packr.pack([1, 'S', 'e', 0, 8, 1, 1, null, 'S2'])],
    ['request payload not binary', packr.pack([1, 'S', 'e', 1, 9, 1, 'c', 10, 'text'])],
    ['request without ttl', packr.pack([1, 'S', 'e', 1, 9, 1, 'c'])],
    ['request connection id not a string', packr.pack([1, 'S', 'e', 1, 9, 1, 5, 10, new Uint8Array(1)])],
    ['unknown reply outcome', packr.pack([1, 'S', 'e', 1, 10, 1, 9])],
    ['ok reply without payload', packr.pack([1, 'S', 'e', 1, 10, 1, 1])],
    ['reply payload not binary', packr.pack([1, 'S', 'e', 1, 10, 1, 2, 'x'])],
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

describe('envelope codec: trace context', () => {
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const payloads = new Map([['json', new Uint8Array([0x2a])]]);
  const bytesOf = (envelope: Envelope) => new Map([...('payloads' in envelope ? envelope.payloads : [])]);
  const packr = new Packr({ useRecords: false });

  it('tracing - an invocation carries its trace context through the codec', () => {
    for (const trace of [{ traceparent }, { traceparent, tracestate: 'vendor=value,other=1' }]) {
      const envelope: Envelope = { ...header, kind: 'invocation', payloads, batch: 3, trace };
      const decoded = decodeEnvelope(encodeEnvelope(envelope));
      expect(decoded).toEqual({ ...envelope, payloads: bytesOf(decoded) });
      expect(decoded.kind === 'invocation' && decoded.trace).toEqual(trace);
    }
  });

  it('tracing - an invocation without a trace context is written as before (no trace field)', () => {
    expect(hex(encodeEnvelope({ ...header, kind: 'invocation', payloads }))).toBe(
      '96 01 a1 53 a1 65 07 01 81 a4 6a 73 6f 6e c4 01 2a',
    );
  });

  it('tracing - the trace context is items 11 and 12, after the optional fields (docs/protocol.md)', () => {
    const bytes = encodeEnvelope({
      ...header,
      kind: 'invocation',
      payloads,
      trace: { traceparent, tracestate: 'vendor=value' },
    });
    const ascii = (s: string) => hex(new TextEncoder().encode(s));
    expect(hex(bytes)).toBe(
      `9d 01 a1 53 a1 65 07 01 81 a4 6a 73 6f 6e c4 01 2a c0 c0 c0 c0 c0 d9 37 ${ascii(traceparent)} ac ${ascii('vendor=value')}`,
    );
    // Own envelopes are still recognised from the header (13 items: still a fixarray).
    expect(ownEnvelopeReader('S', 'e')(bytes)).toBe('invocation');
  });

  it('tracing - fields after the trace context are ignored (later versions may append more)', () => {
    const bytes = packr.pack([
      1,
      'S',
      'e',
      7,
      1,
      { json: new Uint8Array([1]) },
      null,
      null,
      null,
      null,
      null,
      traceparent,
      null,
      'future',
      { x: 1 },
    ]);
    const decoded = decodeEnvelope(bytes);
    expect(decoded.kind === 'invocation' && decoded.trace).toEqual({ traceparent });
  });

  const malformed: Array<[string, unknown, unknown, object | undefined]> = [
    ['a number as traceparent', 42, null, undefined],
    ['a map as traceparent', { traceparent }, null, undefined],
    ['a traceparent one character short', traceparent.slice(0, -1), null, undefined],
    ['a version-00 traceparent with more fields', `${traceparent}-ab`, null, undefined],
    ['an all-zero span id', `00-${'a'.repeat(32)}-${'0'.repeat(16)}-01`, null, undefined],
    ['a tracestate without traceparent', null, 'vendor=value', undefined],
    ['an empty tracestate', traceparent, '', { traceparent }],
    ['an oversized tracestate', traceparent, `k=${'v'.repeat(600)}`, { traceparent }],
  ];
  for (const [what, traceparentField, tracestateField, kept] of malformed) {
    it(`tracing - ${what} is left out and reported; the invocation decodes`, () => {
      const reasons: string[] = [];
      const bytes = packr.pack([
        1,
        'S',
        'e',
        7,
        1,
        { json: new Uint8Array([1]) },
        null,
        ['c'],
        null,
        null,
        null,
        traceparentField,
        tracestateField,
      ]);
      const decoded = decodeEnvelope(bytes, 'chan', (reason) => reasons.push(reason));
      expect(decoded.kind).toBe('invocation');
      expect(decoded.kind === 'invocation' && decoded.connectionIds).toEqual(['c']);
      expect(decoded.kind === 'invocation' && decoded.trace).toEqual(kept);
      expect(reasons).toHaveLength(1);
    });
  }

  it('tracing - a later version of traceparent (more fields) is accepted, its first four read', () => {
    const later = `01-${traceparent.slice(3)}-what-comes-next`;
    const bytes = packr.pack([
      1,
      'S',
      'e',
      7,
      1,
      { json: new Uint8Array([1]) },
      null,
      null,
      null,
      null,
      null,
      later,
    ]);
    const decoded = decodeEnvelope(bytes, 'chan', () => expect.fail('not malformed'));
    expect(decoded.kind === 'invocation' && decoded.trace).toEqual({ traceparent: later });
  });
});
