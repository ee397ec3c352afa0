import { ProtocolError } from '../errors.js';
import { RECORD_SEPARATOR } from './text-message-format.js';

export interface HandshakeRequest {
  readonly protocol: string;
  readonly version: number;
}

const SEPARATOR_BYTE = 0x1e;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Reads the client's handshake (always JSON + 0x1E, possibly followed by more bytes in the same frame).
 * Returns `undefined` when the separator has not arrived yet (wait for more bytes); throws
 * {@link ProtocolError} for anything malformed.
 */
export function parseHandshakeRequest(
  data: Uint8Array,
): { request: HandshakeRequest; rest: Uint8Array } | undefined {
  const record = readRecord(data, 'request');
  if (!record) return undefined;
  const { protocol, version } = record.fields;
  if (typeof protocol !== 'string') throw new ProtocolError("Missing required property 'protocol'.");
  if (typeof version !== 'number' || !Number.isInteger(version))
    throw new ProtocolError("Missing required property 'version'.");
  return { request: { protocol, version }, rest: record.rest };
}

/** `{}` + 0x1E on success, `{"error":"…"}` + 0x1E on failure. */
export function writeHandshakeResponse(error?: string): Uint8Array {
  return encoder.encode(JSON.stringify(error === undefined ? {} : { error }) + RECORD_SEPARATOR);
}

/** The client side of the handshake, for tests and tools. */
export function writeHandshakeRequest(request: HandshakeRequest): Uint8Array {
  return encoder.encode(JSON.stringify(request) + RECORD_SEPARATOR);
}

/** Reads a handshake response: `undefined` error on success. */
export function parseHandshakeResponse(
  data: Uint8Array,
): { error: string | undefined; rest: Uint8Array } | undefined {
  const record = readRecord(data, 'response');
  if (!record) return undefined;
  const { error } = record.fields;
  return { error: typeof error === 'string' ? error : undefined, rest: record.rest };
}

/** The JSON object before the first record separator, and the bytes after it; `undefined` if incomplete. */
function readRecord(
  data: Uint8Array,
  what: 'request' | 'response',
): { fields: Record<string, unknown>; rest: Uint8Array } | undefined {
  const end = data.indexOf(SEPARATOR_BYTE);
  if (end < 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data.subarray(0, end)));
  } catch (cause) {
    throw new ProtocolError(`Handshake ${what} is not valid JSON.`, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ProtocolError(`Handshake ${what} is not a JSON object.`);
  return { fields: value as Record<string, unknown>, rest: data.subarray(end + 1) };
}
