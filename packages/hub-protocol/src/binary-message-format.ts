import { ProtocolError } from './protocol-error.js';

/** The largest body a VarInt length prefix may announce (2 GB - 1, `FF FF FF FF 07`). */
export const MAX_BINARY_RECORD_LENGTH = 0x7fffffff;
const MAX_PREFIX_BYTES = 5;

/**
 * Prefixes a MessagePack body with its VarInt length: 7-bit groups, least significant first, MSB set on
 * every byte but the last; 1 to 5 bytes.
 */
export function writeBinaryRecord(body: Uint8Array): Uint8Array {
  const length = body.byteLength;
  if (length > MAX_BINARY_RECORD_LENGTH)
    throw new ProtocolError('Messages bigger than 2GB are not supported.');
  const prefixBytes =
    length < 0x80 ? 1 : length < 0x4000 ? 2 : length < 0x200000 ? 3 : length < 0x10000000 ? 4 : 5;
  // A pooled buffer for small records: serializing for every protocol happens once per send.
  const out = Buffer.allocUnsafe(prefixBytes + length);
  let rest = length;
  let at = 0;
  while (rest >= 0x80) {
    out[at++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  out[at++] = rest;
  out.set(body, at);
  return out;
}

/**
 * Splits length-prefixed records (views into `input`, not copies). Throws a {@link ProtocolError} for a
 * truncated length or body, a VarInt longer than 5 bytes, or a length above 0x7fffffff.
 */
export function parseBinaryRecords(input: Uint8Array): Uint8Array[] {
  const records: Uint8Array[] = [];
  let offset = 0;
  while (offset < input.byteLength) {
    let length = 0;
    let size = 0;
    let byte: number;
    do {
      if (size === MAX_PREFIX_BYTES) throw new ProtocolError('Messages bigger than 2GB are not supported.');
      if (offset + size >= input.byteLength) throw new ProtocolError('Cannot read message size.');
      byte = input[offset + size]!;
      length += (byte & 0x7f) * 2 ** (7 * size);
      size++;
    } while (byte & 0x80);
    if (length > MAX_BINARY_RECORD_LENGTH)
      throw new ProtocolError('Messages bigger than 2GB are not supported.');
    const start = offset + size;
    if (start + length > input.byteLength) throw new ProtocolError('Incomplete message.');
    records.push(input.subarray(start, start + length));
    offset = start + length;
  }
  return records;
}
