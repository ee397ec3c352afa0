import { randomBytes } from 'node:crypto';
import { type Claims, NO_CLAIMS } from './jwt.js';
import { hmacSha256, sameText } from './signature.js';

/** What a connection token carries from negotiate (on any node) to the transport request (on any node). */
export interface ConnectionTicket {
  /** The hub path negotiate was called on: the token opens connections to that hub only. */
  readonly hub: string;
  /** The connection id negotiate returned (minted by the negotiating node). */
  readonly connectionId: string;
  readonly userId: string | undefined;
  readonly claims: Claims;
  /** Unix ms after which the token cannot open a new connection. */
  readonly expiresAt: number;
  /** Negotiate agreed to stateful reconnect. */
  readonly statefulReconnect: boolean;
}

/** A ticket read back from a token, with the random nonce that names that token. */
export interface RedeemableTicket extends ConnectionTicket {
  readonly nonce: string;
}

/**
 * Stateless connection tokens: `base64url(json).base64url(hmac-sha256)`, signed with a secret every node
 * shares, so negotiate answered by node A and the WebSocket opened on node B both succeed (no sticky
 * sessions for WebSockets). A random nonce makes every token unique.
 */
export class ConnectionTokens {
  readonly #secret: string;
  constructor(secret: string) {
    this.#secret = secret;
  }

  issue(ticket: ConnectionTicket): string {
    const body = Buffer.from(
      JSON.stringify({
        h: ticket.hub,
        c: ticket.connectionId,
        u: ticket.userId,
        k: ticket.claims,
        e: ticket.expiresAt,
        s: ticket.statefulReconnect ? 1 : 0,
        n: randomBytes(6).toString('base64url'),
      }),
    ).toString('base64url');
    return `${body}.${this.#sign(body)}`;
  }

  /**
   * What a connection opened with `token` is filed under: the token's signature (43 characters, unique per
   * token: an HMAC over a body with a random nonce), copied so that it does not point into the request URL
   * it was cut from; `undefined` unless this secret signed the token. Only an authentic token yields a key,
   * so a signature seen somewhere, put on another body, finds nothing. (A connection keeps its key for
   * life; the whole token would cost ~150 bytes more.)
   */
  keyOf(token: string): string | undefined {
    const signature = this.#verifiedSignature(token);
    return signature === undefined ? undefined : Buffer.from(signature, 'utf8').toString('utf8');
  }

  /** The ticket inside a token, or `undefined` if it is malformed or badly signed. Expiry is the caller's call. */
  read(token: string): RedeemableTicket | undefined {
    if (this.#verifiedSignature(token) === undefined) return undefined;
    const body = token.slice(0, token.indexOf('.'));
    try {
      const raw = JSON.parse(Buffer.from(body, 'base64url').toString()) as {
        c?: unknown;
        u?: unknown;
        k?: unknown;
        e?: unknown;
        s?: unknown;
        n?: unknown;
        h?: unknown;
      };
      if (
        typeof raw.h !== 'string' ||
        typeof raw.c !== 'string' ||
        typeof raw.e !== 'number' ||
        typeof raw.n !== 'string'
      )
        return undefined;
      return {
        hub: raw.h,
        connectionId: raw.c,
        userId: typeof raw.u === 'string' ? raw.u : undefined,
        claims: isNonEmptyObject(raw.k) ? (raw.k as Claims) : NO_CLAIMS,
        expiresAt: raw.e,
        statefulReconnect: raw.s === 1,
        nonce: raw.n,
      };
    } catch {
      return undefined;
    }
  }

  /**
   * The signature of `token` when it is exactly the base64url text of the HMAC of its body (compared as
   * text: base64url decoding would let trailing junk or another spelling of the same bytes through).
   */
  #verifiedSignature(token: string): string | undefined {
    const dot = token.indexOf('.');
    if (dot <= 0) return undefined;
    const signature = token.slice(dot + 1);
    return sameText(signature, this.#sign(token.slice(0, dot))) ? signature : undefined;
  }

  #sign(body: string): string {
    return hmacSha256(this.#secret, body);
  }
}

function isNonEmptyObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  for (const _ in value) return true;
  return false;
}

/**
 * The tokens this node has already opened a connection with, until they expire: a token opens one
 * connection per node, as in SignalR (a second WebSocket while the first is open is 409; a token whose
 * connection has ended is 404, so a client whose resume lands after the connection was cleaned up starts
 * afresh instead of looping). Kept by nonce, pruned as entries expire; at most `maxEntries`.
 */
export class RedeemedTokens {
  /** Nonce → expiry in whole seconds (a small integer, stored unboxed; milliseconds would be a heap number). */
  readonly #expiries = new Map<string, number>();
  constructor(readonly maxEntries = 1_000_000) {}

  has(ticket: RedeemableTicket): boolean {
    return this.#expiries.has(ticket.nonce);
  }

  add(ticket: RedeemableTicket, now = Date.now()): void {
    const nowSeconds = Math.floor(now / 1000);
    for (const [nonce, expiresAt] of this.#expiries) {
      if (expiresAt >= nowSeconds && this.#expiries.size < this.maxEntries) break;
      this.#expiries.delete(nonce);
    }
    this.#expiries.set(ticket.nonce, Math.ceil(ticket.expiresAt / 1000));
  }

  get size(): number {
    return this.#expiries.size;
  }
}
