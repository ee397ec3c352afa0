import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../src/errors.js';
import { parseBinaryRecords, writeBinaryRecord } from '../src/protocol/binary-message-format.js';
import { parseHandshakeRequest, writeHandshakeResponse } from '../src/protocol/handshake.js';
import { type HubMessage, MessageType } from '../src/protocol/hub-messages.js';
import { JsonHubProtocol } from '../src/protocol/json-hub-protocol.js';
import { MessagePackHubProtocol } from '../src/protocol/messagepack-hub-protocol.js';

const hex = (s: string) => Uint8Array.from(s.split(' ').map((b) => Number.parseInt(b, 16)));
const json = new JsonHubProtocol();
const msgpack = new MessagePackHubProtocol();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

const messages: HubMessage[] = [
  { type: MessageType.Invocation, target: 'method', arguments: [42, 'x', { a: [1] }] },
  { type: MessageType.Invocation, invocationId: '1', target: 'm', arguments: [], streamIds: ['s1'] },
  { type: MessageType.Invocation, target: 'm', arguments: [], headers: { k: 'v' } },
  { type: MessageType.StreamItem, invocationId: '1', item: { v: 1 } },
  { type: MessageType.Completion, invocationId: '1', result: 42 },
  { type: MessageType.Completion, invocationId: '1', result: null },
  { type: MessageType.Completion, invocationId: '1' },
  { type: MessageType.Completion, invocationId: '1', error: 'boom' },
  { type: MessageType.StreamInvocation, invocationId: '2', target: 's', arguments: [1] },
  { type: MessageType.CancelInvocation, invocationId: '2' },
  { type: MessageType.Ping },
  { type: MessageType.Close, error: 'bye', allowReconnect: true },
  { type: MessageType.Ack, sequenceId: 1234567 },
  { type: MessageType.Sequence, sequenceId: 1 },
];

describe('hub protocols', () => {
  for (const protocol of [json, msgpack]) {
    for (const message of messages) {
      it(`${protocol.name} protocol - round-trips ${JSON.stringify(message)}`, () => {
        expect(protocol.parseMessages(protocol.writeMessage(message))).toEqual([message]);
      });
    }
    it(`${protocol.name} protocol - parses several messages in one frame, in order`, () => {
      const frames = messages.map((m) => protocol.writeMessage(m));
      const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
      let at = 0;
      for (const f of frames) {
        all.set(f, at);
        at += f.length;
      }
      expect(protocol.parseMessages(all)).toEqual(messages);
    });
  }

  it('json protocol - writes the documented shape', () => {
    expect(
      text(
        json.writeMessage({ type: 1, invocationId: '123', target: 'Send', arguments: [42, 'Test Message'] }),
      ),
    ).toBe('{"type":1,"invocationId":"123","target":"Send","arguments":[42,"Test Message"]}\u001e');
    expect(text(json.writeMessage({ type: 1, target: 'target', arguments: [] }))).toBe(
      '{"type":1,"target":"target","arguments":[]}\u001e',
    );
    expect(text(json.writeMessage({ type: 3, invocationId: '1' }))).toBe(
      '{"type":3,"invocationId":"1"}\u001e',
    );
  });

  it('json protocol - skips unknown message types and unknown properties', () => {
    const input = new TextEncoder().encode('{"type":99,"x":1}\u001e{"type":6,"extra":true}\u001e');
    expect(json.parseMessages(input)).toEqual([{ type: MessageType.Ping }]);
  });

  const badJson = [
    'not json\u001e',
    '{"type":1,"arguments":[]}\u001e',
    '{"type":1,"target":5,"arguments":[]}\u001e',
    '{"type":1,"target":"x","arguments":{}}\u001e',
    '{"type":3,"invocationId":"1","result":1,"error":"e"}\u001e',
    '[1,2]\u001e',
    '{"type":1,"target":"x","arguments":[]}',
    '{"target":"x"}\u001e',
  ];
  for (const input of badJson) {
    it(`json protocol - rejects ${JSON.stringify(input)} with ProtocolError`, () => {
      expect(() => json.parseMessages(new TextEncoder().encode(input))).toThrow(ProtocolError);
    });
  }

  const vectors: Array<[string, HubMessage]> = [
    [
      '96 01 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90',
      { type: 1, invocationId: 'xyz', target: 'method', arguments: [42] },
    ],
    ['95 03 80 a3 78 79 7a 03 2a', { type: 3, invocationId: 'xyz', result: 42 }],
    ['94 03 80 a3 78 79 7a 02', { type: 3, invocationId: 'xyz' }],
    ['95 03 80 a3 78 79 7a 01 a5 45 72 72 6f 72', { type: 3, invocationId: 'xyz', error: 'Error' }],
    ['93 05 80 a3 78 79 7a', { type: 5, invocationId: 'xyz' }],
    ['93 07 a3 78 79 7a c3', { type: 7, error: 'xyz', allowReconnect: true }],
    ['91 06', { type: 6 }],
  ];
  for (const [bytes, message] of vectors) {
    it(`messagepack protocol - writes and reads the spec bytes ${bytes}`, () => {
      const body = hex(bytes);
      expect(msgpack.writeMessage(message)).toEqual(writeBinaryRecord(body));
      expect(msgpack.parseMessages(writeBinaryRecord(body))).toEqual([message]);
    });
  }

  it('messagepack protocol - reads the 5-item legacy invocation and normalizes an empty id', () => {
    const body = hex('95 01 80 a0 a1 6d 90');
    expect(msgpack.parseMessages(writeBinaryRecord(body))).toEqual([{ type: 1, target: 'm', arguments: [] }]);
  });

  const badMsgpack = ['c1', '92 01 80', '96 01 80 c0 2a 90 90', '94 03 80 a1 31 09', 'a3 78 79 7a'];
  for (const bytes of badMsgpack) {
    it(`messagepack protocol - rejects ${bytes} with ProtocolError`, () => {
      expect(() => msgpack.parseMessages(writeBinaryRecord(hex(bytes)))).toThrow(ProtocolError);
    });
  }

  it('binary framing - VarInt lengths round-trip across the 1..3 byte boundaries', () => {
    for (const size of [0, 1, 127, 128, 16383, 16384, 70000]) {
      const body = new Uint8Array(size).fill(7);
      const [parsed] = parseBinaryRecords(writeBinaryRecord(body));
      expect(parsed).toEqual(body);
    }
    expect(Array.from(writeBinaryRecord(new Uint8Array(128)).subarray(0, 2))).toEqual([0x80, 0x01]);
  });

  it('binary framing - truncated lengths, truncated bodies and 6-byte VarInts are errors', () => {
    expect(() => parseBinaryRecords(hex('80'))).toThrow(ProtocolError);
    expect(() => parseBinaryRecords(hex('05 01 02'))).toThrow(ProtocolError);
    expect(() => parseBinaryRecords(hex('ff ff ff ff ff 01'))).toThrow(ProtocolError);
  });

  it('handshake - parses the request and what follows it, waits for more when incomplete', () => {
    const enc = new TextEncoder();
    const parsed = parseHandshakeRequest(
      enc.encode('{"protocol":"json","version":2,"x":1}\u001e{"type":6}\u001e'),
    );
    expect(parsed?.request).toEqual({ protocol: 'json', version: 2 });
    expect(text(parsed!.rest)).toBe('{"type":6}\u001e');
    expect(parseHandshakeRequest(enc.encode('{"protocol":"json"'))).toBeUndefined();
    expect(() => parseHandshakeRequest(enc.encode('{"version":1}\u001e'))).toThrow(ProtocolError);
    expect(() => parseHandshakeRequest(enc.encode('nope\u001e'))).toThrow(ProtocolError);
    expect(text(writeHandshakeResponse())).toBe('{}\u001e');
    expect(text(writeHandshakeResponse("The protocol 'x' is not supported."))).toBe(
      '{"error":"The protocol \'x\' is not supported."}\u001e',
    );
  });
});
