import { describe, expect, it } from 'vitest';
import {
  parseHandshakeRequest,
  parseHandshakeResponse,
  writeHandshakeRequest,
  writeHandshakeResponse,
} from '../src/handshake.js';
import { ProtocolError } from '../src/protocol-error.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('handshake request', () => {
  it('parses protocol and version and ignores unknown properties', () => {
    const parsed = parseHandshakeRequest(bytes('{"protocol":"json","version":2,"extra":[1]}\u001e'));
    expect(parsed?.request).toEqual({ protocol: 'json', version: 2 });
    expect(parsed?.rest.byteLength).toBe(0);
  });

  it('returns the bytes that follow the handshake in the same frame', () => {
    const json = parseHandshakeRequest(bytes('{"protocol":"json","version":1}\u001e{"type":6}\u001e'));
    expect(text(json!.rest)).toBe('{"type":6}\u001e');
    const head = bytes('{"protocol":"messagepack","version":2}\u001e');
    const frame = new Uint8Array([...head, 0x02, 0x91, 0x06]);
    const msgpack = parseHandshakeRequest(frame);
    expect(msgpack?.request).toEqual({ protocol: 'messagepack', version: 2 });
    expect(Array.from(msgpack!.rest)).toEqual([0x02, 0x91, 0x06]);
  });

  it('returns undefined until the record separator arrives', () => {
    expect(parseHandshakeRequest(new Uint8Array(0))).toBeUndefined();
    expect(parseHandshakeRequest(bytes('{"protocol":"json","version":2}'))).toBeUndefined();
  });

  it('round-trips through writeHandshakeRequest', () => {
    const written = writeHandshakeRequest({ protocol: 'messagepack', version: 1 });
    expect(text(written)).toBe('{"protocol":"messagepack","version":1}\u001e');
    expect(parseHandshakeRequest(written)?.request).toEqual({ protocol: 'messagepack', version: 1 });
  });

  it('rejects a missing protocol or version', () => {
    expect(() => parseHandshakeRequest(bytes('{"version":1}\u001e'))).toThrow(
      "Missing required property 'protocol'.",
    );
    expect(() => parseHandshakeRequest(bytes('{"protocol":"json"}\u001e'))).toThrow(
      "Missing required property 'version'.",
    );
  });

  const malformed = [
    '{"protocol":1,"version":1}\u001e',
    '{"protocol":"json","version":"1"}\u001e',
    '{"protocol":"json","version":1.5}\u001e',
    'nope\u001e',
    '[]\u001e',
    'null\u001e',
  ];
  for (const input of malformed) {
    it(`rejects ${JSON.stringify(input)} with ProtocolError`, () => {
      expect(() => parseHandshakeRequest(bytes(input))).toThrow(ProtocolError);
    });
  }

  it('rejects invalid UTF-8 with ProtocolError', () => {
    expect(() => parseHandshakeRequest(new Uint8Array([0xff, 0xfe, 0x1e]))).toThrow(ProtocolError);
  });
});

describe('handshake response', () => {
  it('writes {} on success', () => {
    expect(text(writeHandshakeResponse())).toBe('{}\u001e');
  });

  it('writes the error, JSON-escaped, on failure', () => {
    expect(text(writeHandshakeResponse("The protocol 'x\"y' is not supported."))).toBe(
      '{"error":"The protocol \'x\\"y\' is not supported."}\u001e',
    );
  });

  it('parses success, failure and the bytes that follow', () => {
    expect(parseHandshakeResponse(writeHandshakeResponse())).toEqual({
      error: undefined,
      rest: new Uint8Array(0),
    });
    const failed = parseHandshakeResponse(writeHandshakeResponse('Handshake was canceled.'));
    expect(failed?.error).toBe('Handshake was canceled.');
    const withPing = parseHandshakeResponse(bytes('{}\u001e{"type":6}\u001e'));
    expect(text(withPing!.rest)).toBe('{"type":6}\u001e');
  });

  it('returns undefined until the record separator arrives', () => {
    expect(parseHandshakeResponse(bytes('{'))).toBeUndefined();
  });

  it('rejects a hub message in place of the response', () => {
    expect(() => parseHandshakeResponse(bytes('{"type":6}\u001e'))).toThrow(
      'Expected a handshake response from the server.',
    );
  });

  it('rejects a non-string error or invalid JSON', () => {
    expect(() => parseHandshakeResponse(bytes('{"error":1}\u001e'))).toThrow(ProtocolError);
    expect(() => parseHandshakeResponse(bytes('{\u001e'))).toThrow(ProtocolError);
  });
});
