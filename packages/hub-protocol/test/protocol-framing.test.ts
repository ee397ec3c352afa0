import { describe, expect, it } from 'vitest';
import { parseBinaryRecords, writeBinaryRecord } from '../src/binary-message-format.js';
import { ProtocolError } from '../src/protocol-error.js';
import { parseTextRecords, RECORD_SEPARATOR, writeTextRecord } from '../src/text-message-format.js';

const hex = (s: string) => Uint8Array.from(s.split(' ').map((b) => Number.parseInt(b, 16)));
const prefixOf = (length: number) => {
  const framed = writeBinaryRecord(new Uint8Array(length));
  return Array.from(framed.subarray(0, framed.byteLength - length));
};

describe('text message format', () => {
  it('terminates a record with 0x1E', () => {
    expect(RECORD_SEPARATOR).toBe('\u001e');
    expect(writeTextRecord('{"type":6}')).toBe('{"type":6}\u001e');
  });

  it('parses several records in order', () => {
    expect(parseTextRecords('{"a":1}\u001e{"b":2}\u001e\u001e')).toEqual(['{"a":1}', '{"b":2}', '']);
  });

  it('parses empty input as no records', () => {
    expect(parseTextRecords('')).toEqual([]);
  });

  it('rejects an unterminated last record', () => {
    expect(() => parseTextRecords('{"a":1}\u001e{"b":2}')).toThrow(ProtocolError);
    expect(() => parseTextRecords('{"a":1}')).toThrow('Message is incomplete.');
  });
});

describe('binary message format', () => {
  it('writes VarInt length prefixes of 1 to 3 bytes', () => {
    expect(prefixOf(0)).toEqual([0x00]);
    expect(prefixOf(1)).toEqual([0x01]);
    expect(prefixOf(127)).toEqual([0x7f]);
    expect(prefixOf(128)).toEqual([0x80, 0x01]);
    expect(prefixOf(16383)).toEqual([0xff, 0x7f]);
    expect(prefixOf(16384)).toEqual([0x80, 0x80, 0x01]);
  });

  it('round-trips bodies across the VarInt boundaries', () => {
    for (const size of [0, 1, 127, 128, 16383, 16384, 70000]) {
      const body = new Uint8Array(size).map((_, i) => i % 251);
      expect(parseBinaryRecords(writeBinaryRecord(body)).map((r) => Uint8Array.from(r))).toEqual([body]);
    }
  });

  it('parses several records in one buffer, in order', () => {
    expect(parseBinaryRecords(hex('02 91 06 00 03 93 05 80'))).toEqual([
      hex('91 06'),
      new Uint8Array(0),
      hex('93 05 80'),
    ]);
  });

  it('parses empty input as no records', () => {
    expect(parseBinaryRecords(new Uint8Array(0))).toEqual([]);
  });

  it('returns views into the input, not copies', () => {
    const input = hex('02 91 06');
    const [record] = parseBinaryRecords(input);
    expect(record!.buffer).toBe(input.buffer);
  });

  it('rejects a truncated VarInt', () => {
    expect(() => parseBinaryRecords(hex('80'))).toThrow('Cannot read message size.');
    expect(() => parseBinaryRecords(hex('02 91 06 ff ff'))).toThrow(ProtocolError);
  });

  it('rejects a truncated body', () => {
    expect(() => parseBinaryRecords(hex('05 01 02'))).toThrow('Incomplete message.');
    expect(() => parseBinaryRecords(hex('02 91 06 03 93'))).toThrow(ProtocolError);
  });

  it('accepts the 2GB-1 maximum length but rejects anything larger or a VarInt over 5 bytes', () => {
    // FF FF FF FF 07 = 0x7fffffff: a valid length, so the error is the missing body
    expect(() => parseBinaryRecords(hex('ff ff ff ff 07'))).toThrow('Incomplete message.');
    expect(() => parseBinaryRecords(hex('ff ff ff ff 08'))).toThrow(
      'Messages bigger than 2GB are not supported.',
    );
    expect(() => parseBinaryRecords(hex('80 80 80 80 80 01'))).toThrow(
      'Messages bigger than 2GB are not supported.',
    );
  });

  it('refuses to write a body over 2GB', () => {
    const huge = new Uint8Array(0);
    Object.defineProperty(huge, 'byteLength', { value: 0x80000000 });
    expect(() => writeBinaryRecord(huge)).toThrow(ProtocolError);
  });
});
