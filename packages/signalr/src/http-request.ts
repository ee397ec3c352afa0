import type { IncomingMessage } from 'node:http';

/**
 * The HTTP request that opened a connection's transport, as hub code sees it in `context.http` (SignalR's
 * `Context.GetHttpContext()`): the WebSocket upgrade, the Server-Sent Events GET or the first long poll. A
 * stateful-reconnect resume keeps the first one. Each property is computed when read, from what the
 * connection kept of the request (its headers and query), so an idle connection costs little.
 *
 * The access token is never visible here: the `access_token` query parameter and an
 * `Authorization: Bearer` header are left out (the verified claims are `context.claims`), as is the `id`
 * query parameter (the connection token, a bearer secret for this connection too).
 */
export interface HubHttpContext {
  /**
   * Request headers by lower-case name; a repeated header's values joined with `, ` (`cookie` with `; `).
   * Without a bearer `authorization` and without the hop-by-hop and WebSocket handshake headers
   * (`connection`, `upgrade`, `sec-websocket-*`).
   */
  readonly headers: Readonly<Record<string, string>>;
  /** The query string of the request, without `access_token` and `id`. */
  readonly query: URLSearchParams;
  /** The request's cookies by name, values percent-decoded; the first of a repeated name wins. */
  readonly cookies: Readonly<Record<string, string>>;
  /** The client's IP address as this server sees it (a proxy's when behind one: see `headers`). */
  readonly remoteAddress: string | undefined;
}

/** Query parameters never shown to hub code: the access token and the connection token. */
const HIDDEN_QUERY = new Set(['access_token', 'id']);

/** Headers that describe the hop or the WebSocket handshake, not the client. */
function hiddenHeader(name: string, value: string): boolean {
  const lower = name.toLowerCase();
  return (
    lower === 'connection' ||
    lower === 'upgrade' ||
    lower === 'keep-alive' ||
    lower.startsWith('sec-websocket-') ||
    (lower === 'authorization' && /^bearer /i.test(value))
  );
}

/** Where the remote address comes from: the live socket (read on demand), or the address itself. */
interface Peer {
  readonly remoteAddress?: string | undefined;
}

/**
 * What a connection keeps of the request that opened its transport: the client's headers as one string
 * (`name:value` lines: a header name has no colon, and the HTTP parser refuses line breaks in values), the
 * query without secrets, and the socket (whose address is read on demand) or, when the socket does not live
 * as long as the connection (long polling), the address. One string instead of the request's array of
 * strings is most of what an idle connection pays for this.
 */
export class TransportRequest implements HubHttpContext {
  readonly #headers: string;
  readonly #search: string;
  readonly #peer: Peer | string | undefined;

  /**
   * @param socketLives the request's socket lives as long as the connection (WebSockets, Server-Sent
   * Events), so the address is read from it when asked; otherwise it is kept now.
   */
  constructor(req: IncomingMessage, url: URL, socketLives: boolean) {
    const raw = req.rawHeaders;
    let kept = '';
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      if (!hiddenHeader(name, value) && !/[\r\n]/.test(value)) kept += `${name}:${value}\n`;
    }
    // A flat copy: the concatenation would otherwise keep every piece alive.
    this.#headers = kept === '' ? '' : flatten(kept);
    this.#search = visibleSearch(url);
    this.#peer = socketLives ? req.socket : req.socket.remoteAddress;
  }

  get headers(): Readonly<Record<string, string>> {
    const headers: Record<string, string> = Object.create(null);
    for (const [rawName, value] of this.#pairs()) {
      const name = rawName.toLowerCase();
      const previous = headers[name];
      headers[name] =
        previous === undefined ? value : `${previous}${name === 'cookie' ? '; ' : ', '}${value}`;
    }
    return headers;
  }

  get query(): URLSearchParams {
    return new URLSearchParams(this.#search);
  }

  get cookies(): Readonly<Record<string, string>> {
    const cookies: Record<string, string> = Object.create(null);
    for (const [name, value] of this.#pairs()) {
      if (name.toLowerCase() !== 'cookie') continue;
      for (const part of value.split(';')) {
        const eq = part.indexOf('=');
        if (eq < 0) continue;
        const name = part.slice(0, eq).trim();
        if (name === '' || name in cookies) continue;
        cookies[name] = decodeCookieValue(part.slice(eq + 1).trim());
      }
    }
    return cookies;
  }

  get remoteAddress(): string | undefined {
    const peer = this.#peer;
    return typeof peer === 'string' || peer === undefined ? peer : peer.remoteAddress;
  }

  /** The kept headers as [name, value], in request order. */
  *#pairs(): Generator<[string, string]> {
    const text = this.#headers;
    for (let start = 0; start < text.length; ) {
      const end = text.indexOf('\n', start);
      const colon = text.indexOf(':', start);
      yield [text.slice(start, colon), text.slice(colon + 1, end)];
      start = end + 1;
    }
  }
}

/** A sequential copy of a string built by concatenation (a rope keeps each of its pieces). */
function flatten(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1');
}

/** The query string without the hidden parameters ('' when nothing is left, as for most connections). */
function visibleSearch(url: URL): string {
  const params = url.searchParams;
  let hidden = false;
  let visible = false;
  for (const name of params.keys()) {
    if (HIDDEN_QUERY.has(name)) hidden = true;
    else visible = true;
  }
  if (!visible) return '';
  if (!hidden) return url.search;
  const kept = new URLSearchParams();
  for (const [name, value] of params) if (!HIDDEN_QUERY.has(name)) kept.append(name, value);
  return kept.toString();
}

function decodeCookieValue(value: string): string {
  const unquoted =
    value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  try {
    return decodeURIComponent(unquoted);
  } catch {
    return unquoted;
  }
}
