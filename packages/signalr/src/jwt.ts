import { createHmac, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from './errors.js';

/** Claims of a verified token. */
export type Claims = Readonly<Record<string, unknown>>;

/** The claims of a connection that has none (anonymous, or a token without claims): one shared object. */
export const NO_CLAIMS: Claims = Object.freeze({});

/**
 * Verifies an HS256 JWT (signature, `exp`, `nbf`, with `clockSkewSeconds` of leeway) and returns its claims.
 * Throws {@link UnauthorizedError} otherwise. Only HS256 is accepted (no `alg: none`, no RS/HS confusion).
 */
export function verifyJwt(token: string, secret: string, now = Date.now(), clockSkewSeconds = 30): Claims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new UnauthorizedError('Malformed token.');
  const [header, payload, signature] = parts as [string, string, string];
  let alg: unknown;
  let claims: unknown;
  try {
    alg = (JSON.parse(Buffer.from(header, 'base64url').toString()) as { alg?: unknown }).alg;
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  } catch (cause) {
    throw new UnauthorizedError('Malformed token.', { cause });
  }
  if (alg !== 'HS256') throw new UnauthorizedError('Unsupported token algorithm.');
  const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
  const actual = Buffer.from(signature, 'base64url');
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected))
    throw new UnauthorizedError('Invalid token signature.');
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims))
    throw new UnauthorizedError('Malformed token.');
  const { exp, nbf } = claims as { exp?: unknown; nbf?: unknown };
  const seconds = now / 1000;
  if (typeof exp === 'number' && seconds > exp + clockSkewSeconds)
    throw new UnauthorizedError('Token expired.');
  if (typeof nbf === 'number' && seconds < nbf - clockSkewSeconds)
    throw new UnauthorizedError('Token not yet valid.');
  return claims as Claims;
}

/** Signs an HS256 JWT (for tests, tools and the demo). */
export function signJwt(claims: Record<string, unknown>, secret: string): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}
