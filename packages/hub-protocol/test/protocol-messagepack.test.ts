import { describe, expect, it } from 'vitest';
import { writeBinaryRecord } from '../src/binary-message-format.js';
import { type HubMessage, MessageType } from '../src/hub-messages.js';
import { MessagePackHubProtocol } from '../src/messagepack-hub-protocol.js';
import { ProtocolError } from '../src/protocol-error.js';

const msgpack = new MessagePackHubProtocol();
const hex = (s: string) => Uint8Array.from(s.split(' ').map((b) => Number.parseInt(b, 16)));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
/** Parses one MessagePack body (given as hex, without its length prefix). */
const parseBody = (body: string) => msgpack.parseMessages(writeBinaryRecord(hex(body)));
/** The body msgpack writes for a message, as hex, without its length prefix. */
const bodyOf = (message: HubMessage) => {
  const framed = msgpack.writeMessage(message);
  return toHex(framed.subarray(1)); // every message in these tests is under 128 bytes: a 1-byte prefix
};

const messages: HubMessage[] = [
  { type: MessageType.Invocation, target: 'method', arguments: [42, 'x', { a: [1, null] }, true, 1.5, -7] },
  { type: MessageType.Invocation, invocationId: '1', target: 'm', arguments: [], streamIds: ['s1', 's2'] },
  { type: MessageType.Invocation, invocationId: '2', target: 'm', arguments: [], headers: { k: 'v' } },
  { type: MessageType.StreamItem, invocationId: '1', item: { v: 1 } },
  { type: MessageType.StreamItem, invocationId: '1', item: null, headers: { a: 'b' } },
  { type: MessageType.Completion, invocationId: '1', result: 42 },
  { type: MessageType.Completion, invocationId: '1', result: null },
  { type: MessageType.Completion, invocationId: '1' },
  { type: MessageType.Completion, invocationId: '1', error: 'boom' },
  { type: MessageType.StreamInvocation, invocationId: '2', target: 's', arguments: [1] },
  { type: MessageType.StreamInvocation, invocationId: '3', target: 's', arguments: [], streamIds: ['u'] },
  { type: MessageType.CancelInvocation, invocationId: '2' },
  { type: MessageType.Ping },
  { type: MessageType.Close, allowReconnect: false },
  { type: MessageType.Close, error: 'bye', allowReconnect: true },
  { type: MessageType.Ack, sequenceId: 1234567 },
  { type: MessageType.Sequence, sequenceId: 1 },
  { type: MessageType.Sequence, sequenceId: 2 ** 40 },
];

// The MessagePack layouts of docs/protocol.md ("Hub protocol payloads"): message bodies, without the VarInt length prefix
const specVectors: Array<[string, string, HubMessage]> = [
  [
    'invocation',
    '96 01 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90',
    { type: 1, invocationId: 'xyz', target: 'method', arguments: [42] },
  ],
  ['completion with result 42', '95 03 80 a3 78 79 7a 03 2a', { type: 3, invocationId: 'xyz', result: 42 }],
  ['void completion', '94 03 80 a3 78 79 7a 02', { type: 3, invocationId: 'xyz' }],
  [
    'completion with error "Error"',
    '95 03 80 a3 78 79 7a 01 a5 45 72 72 6f 72',
    { type: 3, invocationId: 'xyz', error: 'Error' },
  ],
  ['cancel invocation', '93 05 80 a3 78 79 7a', { type: 5, invocationId: 'xyz' }],
  ['close with allowReconnect', '93 07 a3 78 79 7a c3', { type: 7, error: 'xyz', allowReconnect: true }],
  ['ping', '91 06', { type: 6 }],
];

describe('messagepack hub protocol', () => {
  it('identifies as messagepack version 2 over binary, accepting versions 1 and 2', () => {
    expect([msgpack.name, msgpack.version, msgpack.transferFormat]).toEqual(['messagepack', 2, 'binary']);
    expect([0, 1, 2, 3].map((v) => msgpack.isVersionSupported(v))).toEqual([false, true, true, false]);
  });

  for (const [name, body, message] of specVectors) {
    it(`writes the spec bytes for a ${name}`, () => {
      expect(toHex(msgpack.writeMessage(message))).toBe(toHex(writeBinaryRecord(hex(body))));
    });
    it(`reads the spec bytes for a ${name}`, () => {
      expect(parseBody(body)).toEqual([message]);
    });
  }

  it('frames with the VarInt length prefix', () => {
    expect(toHex(msgpack.writeMessage({ type: 6 }))).toBe('02 91 06');
    expect(toHex(msgpack.writeMessage({ type: 5, invocationId: 'xyz' }))).toBe('07 93 05 80 a3 78 79 7a');
  });

  for (const message of messages) {
    it(`round-trips ${JSON.stringify(message)}`, () => {
      expect(msgpack.parseMessages(msgpack.writeMessage(message))).toEqual([message]);
    });
  }

  it('writes a non-blocking invocation with a nil invocationId', () => {
    expect(bodyOf({ type: 1, target: 'm', arguments: [] })).toBe('96 01 80 c0 a1 6d 90 90');
  });

  it('writes a close without error or allowReconnect as three items, and reads it back as not reconnectable', () => {
    expect(bodyOf({ type: 7 })).toBe('93 07 c0 c2');
    expect(parseBody('93 07 c0 c2')).toEqual([{ type: 7, allowReconnect: false }]);
  });

  it('writes a null result as a non-void completion', () => {
    expect(bodyOf({ type: 3, invocationId: 'xyz', result: null })).toBe('95 03 80 a3 78 79 7a 03 c0');
  });

  it('writes undefined as nil, not as a msgpackr extension', () => {
    expect(bodyOf({ type: 1, target: 'm', arguments: [undefined] })).toBe('96 01 80 c0 a1 6d 91 c0 90');
  });

  it('writes a sequence id above 32 bits as a 64-bit integer, not a float', () => {
    expect(bodyOf({ type: 9, sequenceId: 2 ** 40 })).toBe('92 09 d3 00 00 01 00 00 00 00 00');
  });

  it('writes headers as a string map', () => {
    expect(bodyOf({ type: 5, invocationId: 'x', headers: { a: 'b' } })).toBe('93 05 81 a1 61 a1 62 a1 78');
  });

  it('refuses to write a completion with both error and result', () => {
    expect(() => msgpack.writeMessage({ type: 3, invocationId: '1', error: 'e', result: 1 })).toThrow(
      "The 'error' and 'result' properties are mutually exclusive.",
    );
  });

  it('reads the legacy 5-item invocation and normalizes an empty invocationId', () => {
    expect(parseBody('95 01 80 a0 a1 6d 90')).toEqual([{ type: 1, target: 'm', arguments: [] }]);
    expect(parseBody('95 01 80 a1 31 a1 6d 90')).toEqual([
      { type: 1, invocationId: '1', target: 'm', arguments: [] },
    ]);
  });

  it('reads the 2-item close the official client writes', () => {
    expect(parseBody('92 07 c0')).toEqual([{ type: 7 }]);
    expect(parseBody('92 07 a1 65')).toEqual([{ type: 7, error: 'e' }]);
  });

  it('ignores extra trailing items, for forward compatibility', () => {
    expect(parseBody('94 05 80 a1 31 2a')).toEqual([{ type: 5, invocationId: '1' }]);
  });

  it('reads bin as a byte array copied out of the frame', () => {
    const frame = writeBinaryRecord(hex('94 02 80 a1 31 c4 02 01 02'));
    const [message] = msgpack.parseMessages(frame);
    frame.fill(0);
    const item = (message as { item: unknown }).item;
    expect(item).toBeInstanceOf(Uint8Array);
    expect(Array.from(item as Uint8Array)).toEqual([1, 2]);
  });

  it('reads 64-bit integers as numbers', () => {
    expect(parseBody('92 08 cf 00 00 01 00 00 00 00 00')).toEqual([{ type: 8, sequenceId: 2 ** 40 }]);
    expect(parseBody('94 02 80 a1 31 d3 ff ff ff 00 00 00 00 00')).toEqual([
      { type: 2, invocationId: '1', item: -(2 ** 40) },
    ]);
  });

  it('parses several messages in one buffer, in order', () => {
    const all = messages.flatMap((m) => Array.from(msgpack.writeMessage(m)));
    expect(msgpack.parseMessages(Uint8Array.from(all))).toEqual(messages);
  });

  it('skips unknown message types', () => {
    const frames = [...writeBinaryRecord(hex('92 63 80')), ...msgpack.writeMessage({ type: 6 })];
    expect(msgpack.parseMessages(Uint8Array.from(frames))).toEqual([{ type: 6 }]);
  });

  it('reports which field of which message is wrong', () => {
    expect(() => parseBody('96 01 80 c0 2a 90 90')).toThrow(
      "Invalid payload for 'Invocation' message: 'target' must be a string.",
    );
  });

  const malformedBodies = [
    'c1', // never used
    'a3 78 79 7a', // not an array
    '90', // empty array
    '91 a1 31', // type not an integer
    '91 cb 3f f8 00 00 00 00 00 00', // type 1.5
    '92 01 80', // invocation too short
    '96 01 80 2a a1 6d 90 90', // invocationId not a string
    '96 01 80 c0 a1 6d 80 90', // arguments not an array
    '96 01 80 c0 a1 6d 90 91 01', // streamIds not strings
    '96 01 91 01 c0 a1 6d 90 90', // headers not a map
    '96 01 81 a1 61 01 c0 a1 6d 90 90', // header value not a string
    '93 02 80 a1 31', // stream item without item
    '94 03 80 a1 31 09', // unknown result kind
    '94 03 80 a1 31 01', // error completion without error
    '94 03 80 a1 31 03', // non-void completion without result
    '95 04 80 c0 a1 6d 90', // stream invocation without id
    '92 05 80', // cancel without id
    '91 07', // close too short
    '93 07 c0 01', // allowReconnect not a boolean
    '91 08', // ack without sequenceId
    '92 09 a1 31', // sequenceId not an integer
    '91 06 c0', // trailing bytes in the record
    '92 06', // truncated msgpack
  ];
  for (const body of malformedBodies) {
    it(`rejects the body ${body} with ProtocolError`, () => {
      expect(() => parseBody(body)).toThrow(ProtocolError);
    });
  }

  const malformedFrames = [
    ['a truncated varint', '80'],
    ['a truncated body', '05 91 06'],
    ['an oversize varint', 'ff ff ff ff 08'],
    ['a varint over 5 bytes', '80 80 80 80 80 01'],
    ['an empty record', '00'],
  ];
  for (const [name, frame] of malformedFrames) {
    it(`rejects ${name} with ProtocolError`, () => {
      expect(() => msgpack.parseMessages(hex(frame!))).toThrow(ProtocolError);
    });
  }
});
