import type { IncomingMessage } from 'node:http';
import { UnauthorizedError } from './errors.js';
import { type Claims, NO_CLAIMS, verifyJwt } from './jwt.js';

/** Who a request (negotiate or a transport) comes from. */
export interface Identity {
  readonly userId: string | undefined;
  readonly claims: Claims;
}

export interface AuthSettings {
  /** HS256 secret; when set every negotiate and connection needs a valid token. */
  readonly jwtSecret: string | undefined;
  /** When set, a JWT's `iss` must equal it. */
  readonly jwtIssuer: string | undefined;
  /** When set, a JWT's `aud` must be or contain it. */
  readonly jwtAudience: string | undefined;
  /** Leeway on a JWT's `exp` and `nbf`, in seconds. */
  readonly jwtClockSkew: number;
  readonly userIdProvider: (claims: Claims) => string | undefined;
  /** Without a JWT secret: the query parameter naming the user (demos only). */
  readonly userIdQueryParameter: string | undefined;
}

/** The default user id: the `sub` claim when it is a non-empty string. */
export const subjectUserId = (claims: Claims): string | undefined =>
  typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : undefined;

/**
 * The access token of a request: `Authorization: Bearer <t>` (Node clients, negotiate) or the
 * `access_token` query parameter (browsers cannot set headers on WebSockets and EventSource).
 */
export function bearerToken(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers.authorization;
  // The scheme name is case-insensitive (`bearer x`, `BEARER x`).
  if (header && /^bearer /i.test(header)) return header.slice(7).trim() || undefined;
  return url.searchParams.get('access_token') || undefined;
}

/** Authenticates a request. Throws {@link UnauthorizedError} (answered with 401 and a bearer challenge). */
export function authenticate(req: IncomingMessage, url: URL, settings: AuthSettings): Identity {
  const { jwtSecret, userIdProvider, userIdQueryParameter } = settings;
  if (jwtSecret) {
    const token = bearerToken(req, url);
    if (!token) throw new UnauthorizedError('A bearer token is required.');
    const claims = verifyJwt(token, jwtSecret, {
      clockSkewSeconds: settings.jwtClockSkew,
      issuer: settings.jwtIssuer,
      audience: settings.jwtAudience,
    });
    return { userId: userIdProvider(claims) || undefined, claims };
  }
  const userId = userIdQueryParameter ? url.searchParams.get(userIdQueryParameter) || undefined : undefined;
  return { userId, claims: NO_CLAIMS };
}

/** The `WWW-Authenticate` value answering `error` (ASP.NET Core's JWT bearer challenge). */
export function bearerChallenge(error: UnauthorizedError): string {
  if (!error.invalidToken) return 'Bearer';
  const description = error.message.replace(/["\\]/g, '');
  return `Bearer error="invalid_token", error_description="${description}"`;
}

/**
 * When a connection authenticated with `claims` stops being authenticated, in Unix ms: the JWT's `exp` plus
 * the leeway it was accepted with (the moment {@link verifyJwt} would start refusing it); `Infinity` without
 * an `exp` (anonymous connections, tokens that never expire).
 */
export function authenticationExpiry(claims: Claims, clockSkewSeconds: number): number {
  const exp = claims.exp;
  return typeof exp === 'number' ? (exp + clockSkewSeconds) * 1000 : Number.POSITIVE_INFINITY;
}
