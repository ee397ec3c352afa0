import { ProtocolError } from '../errors.js';

const MAX_LENGTH = 0x7fffffff;

/** Prefixes a MessagePack body with its VarInt length (7-bit groups, little-endian, MSB = more). */
export function writeBinaryRecord(body: Uint8Array): Uint8Array {
  let length = body.byteLength;
  if (length > MAX_LENGTH) throw new ProtocolError('Messages bigger than 2GB are not supported.');
  const prefix: number[] = [];
  do {
    let byte = length & 0x7f;
    length >>>= 7;
    if (length > 0) byte |= 0x80;
    prefix.push(byte);
  } while (length > 0);
  const out = new Uint8Array(prefix.length + body.byteLength);
  out.set(prefix, 0);
  out.set(body, prefix.length);
  return out;
}

/** Splits length-prefixed records. Truncated lengths or bodies and VarInts over 5 bytes are errors. */
export function parseBinaryRecords(input: Uint8Array): Uint8Array[] {
  const records: Uint8Array[] = [];
  let offset = 0;
  while (offset < input.byteLength) {
    let length = 0;
    let shift = 0;
    let size = 0;
    let byte: number;
    do {
      if (size >= 5) throw new ProtocolError('Messages bigger than 2GB are not supported.');
      if (offset + size >= input.byteLength) throw new ProtocolError('Cannot read message size.');
      byte = input[offset + size]!;
      length += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      size++;
    } while (byte & 0x80);
    if (length > MAX_LENGTH) throw new ProtocolError('Messages bigger than 2GB are not supported.');
    const start = offset + size;
    if (start + length > input.byteLength) throw new ProtocolError('Incomplete message.');
    records.push(input.subarray(start, start + length));
    offset = start + length;
  }
  return records;
}
