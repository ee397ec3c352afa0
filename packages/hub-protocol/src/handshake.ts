import { ProtocolError } from './protocol-error.js';
import { RECORD_SEPARATOR } from './text-message-format.js';

/** The client's first message: which hub protocol (`json`, `messagepack`) and version it wants. */
export interface HandshakeRequest {
  readonly protocol: string;
  readonly version: number;
}

/** The server's answer: `error` is absent on success. */
export interface HandshakeResponse {
  readonly error?: string;
}

const SEPARATOR_BYTE = 0x1e;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads the client's handshake, which is always JSON + 0x1E whatever the hub protocol, and may be followed
 * by hub messages in the same frame (`rest`, a view into `data`). Returns `undefined` while the separator
 * has not arrived (buffer and call again with more bytes); throws a {@link ProtocolError} when the record
 * is malformed or lacks `protocol` or `version`. Unknown properties are ignored.
 */
export function parseHandshakeRequest(
  data: Uint8Array,
): { request: HandshakeRequest; rest: Uint8Array } | undefined {
  const record = readRecord(data, 'request');
  if (!record) return undefined;
  const { protocol, version } = record.fields;
  if (protocol === undefined) throw new ProtocolError("Missing required property 'protocol'.");
  if (typeof protocol !== 'string') throw new ProtocolError("Handshake 'protocol' must be a string.");
  if (version === undefined) throw new ProtocolError("Missing required property 'version'.");
  if (typeof version !== 'number' || !Number.isInteger(version))
    throw new ProtocolError("Handshake 'version' must be an integer.");
  return { request: { protocol, version }, rest: record.rest };
}

/** The server's answer: `{}` + 0x1E on success, `{"error":"…"}` + 0x1E on failure (then close). */
export function writeHandshakeResponse(error?: string): Uint8Array {
  return encoder.encode(JSON.stringify(error === undefined ? {} : { error }) + RECORD_SEPARATOR);
}

/** The client side of the handshake (for tests and tools): `{"protocol":…,"version":…}` + 0x1E. */
export function writeHandshakeRequest(request: HandshakeRequest): Uint8Array {
  return encoder.encode(
    JSON.stringify({ protocol: request.protocol, version: request.version }) + RECORD_SEPARATOR,
  );
}

/**
 * The client side of the handshake: reads the server's response and the bytes after it. Returns
 * `undefined` while incomplete; `error` is `undefined` on success. Like the official clients, a record with
 * a `type` property (a hub message, not a handshake response) is a {@link ProtocolError}.
 */
export function parseHandshakeResponse(
  data: Uint8Array,
): { error: string | undefined; rest: Uint8Array } | undefined {
  const record = readRecord(data, 'response');
  if (!record) return undefined;
  const { error, type } = record.fields;
  if (type !== undefined) throw new ProtocolError('Expected a handshake response from the server.');
  if (error !== undefined && error !== null && typeof error !== 'string')
    throw new ProtocolError("Handshake 'error' must be a string.");
  return { error: typeof error === 'string' ? error : undefined, rest: record.rest };
}

/** The JSON object before the first record separator and the bytes after it; `undefined` if incomplete. */
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
