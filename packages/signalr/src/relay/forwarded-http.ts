/**
 * An HTTP request of a transport (a POST of frames, a poll, a DELETE) forwarded to the node that owns
 * its connection, and that node's answer: the payload of a core request and of its reply. Layout: a
 * 4-byte big-endian length, that many bytes of JSON (the head), then the body bytes.
 */

/** What the owner needs of a client's request to handle it as if the client had sent it there. */
export interface ForwardedRequest {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** The endpoint's path. */
  readonly path: string;
  /** The query string (with the connection token), `?` included. */
  readonly search: string;
  /** The client's headers, as Node's `rawHeaders` (name, value, name, value…). */
  readonly rawHeaders: readonly string[];
  readonly remoteAddress: string | undefined;
  /**
   * A Server-Sent Events stream held by the asking node: `open` it (a GET), `poll` its buffer (a GET; a
   * DELETE ends it); `undefined` for a client's own request.
   */
  readonly events: 'open' | 'poll' | undefined;
  readonly body: Uint8Array;
}

/** The owner's HTTP answer. */
export interface ForwardedAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | number>>;
  readonly body: Uint8Array;
}

const EMPTY = new Uint8Array(0);

export function encodeForwardedRequest(request: ForwardedRequest): Uint8Array {
  const head = {
    m: request.method,
    p: request.path,
    q: request.search,
    h: request.rawHeaders,
    a: request.remoteAddress ?? null,
    e: request.events === 'open' ? 1 : request.events === 'poll' ? 2 : 0,
  };
  return frame(head, request.body);
}

/** The request in `bytes`, or `undefined` when they are not one (the owner answers 400). */
export function decodeForwardedRequest(bytes: Uint8Array): ForwardedRequest | undefined {
  const parsed = unframe(bytes);
  if (!parsed) return undefined;
  const { head, body } = parsed;
  const method = head.m;
  if (method !== 'GET' && method !== 'POST' && method !== 'DELETE') return undefined;
  if (typeof head.p !== 'string' || typeof head.q !== 'string') return undefined;
  if (!Array.isArray(head.h) || !head.h.every((h) => typeof h === 'string')) return undefined;
  return {
    method,
    path: head.p,
    search: head.q,
    rawHeaders: head.h as string[],
    remoteAddress: typeof head.a === 'string' ? head.a : undefined,
    events: head.e === 1 ? 'open' : head.e === 2 ? 'poll' : undefined,
    body,
  };
}

export function encodeForwardedAnswer(answer: ForwardedAnswer): Uint8Array {
  return frame({ s: answer.status, h: answer.headers }, answer.body);
}

export function decodeForwardedAnswer(bytes: Uint8Array): ForwardedAnswer | undefined {
  const parsed = unframe(bytes);
  if (!parsed) return undefined;
  const { head, body } = parsed;
  if (typeof head.s !== 'number' || typeof head.h !== 'object' || head.h === null) return undefined;
  return { status: head.s, headers: head.h as Record<string, string | number>, body };
}

function frame(head: object, body: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify(head));
  const out = Buffer.allocUnsafe(4 + json.byteLength + body.byteLength);
  out.writeUInt32BE(json.byteLength, 0);
  json.copy(out, 4);
  out.set(body, 4 + json.byteLength);
  return out;
}

function unframe(bytes: Uint8Array): { head: Record<string, unknown>; body: Uint8Array } | undefined {
  if (bytes.byteLength < 4) return undefined;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.readUInt32BE(0);
  if (4 + length > view.byteLength) return undefined;
  try {
    const head: unknown = JSON.parse(view.toString('utf8', 4, 4 + length));
    if (typeof head !== 'object' || head === null || Array.isArray(head)) return undefined;
    const body = view.byteLength === 4 + length ? EMPTY : view.subarray(4 + length);
    return { head: head as Record<string, unknown>, body };
  } catch {
    return undefined;
  }
}
