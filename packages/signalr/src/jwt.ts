import { UnauthorizedError } from './errors.js';
import { hmacSha256, sameText } from './signature.js';

/** A refusal of the token given (answered with `error="invalid_token"`). */
const INVALID = { invalidToken: true } as const;

/** Claims of a verified token. */
export type Claims = Readonly<Record<string, unknown>>;

/** The claims of a connection that has none (anonymous, or a token without claims): one shared object. */
export const NO_CLAIMS: Claims = Object.freeze({});

/** What {@link verifyJwt} checks besides the signature. */
export interface JwtValidation {
  /** The time to check `exp` and `nbf` against, in Unix ms. @default Date.now() */
  readonly now?: number;
  /** Leeway on `exp` and `nbf`, in seconds. @default 30 */
  readonly clockSkewSeconds?: number;
  /** When set, the `iss` claim must equal it. @default undefined (not checked) */
  readonly issuer?: string;
  /** When set, the `aud` claim (a string or an array of strings) must be or contain it. @default undefined (not checked) */
  readonly audience?: string;
}

/**
 * Verifies an HS256 JWT and returns its claims: the signature (the exact base64url text of the HMAC, compared
 * in constant time), `exp` and `nbf` (numbers when present, with `clockSkewSeconds` of leeway), and `iss` and
 * `aud` when an issuer or audience is given. Throws {@link UnauthorizedError} otherwise. Only HS256 is accepted
 * (no `alg: none`, no RS/HS confusion).
 */
export function verifyJwt(token: string, secret: string, validation: JwtValidation = {}): Claims {
  const { now = Date.now(), clockSkewSeconds = 30, issuer, audience } = validation;
  const parts = token.split('.');
  if (parts.length !== 3) throw new UnauthorizedError('Malformed token.', INVALID);
  const [header, payload, signature] = parts as [string, string, string];
  let alg: unknown;
  let claims: unknown;
  try {
    alg = (JSON.parse(Buffer.from(header, 'base64url').toString()) as { alg?: unknown }).alg;
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  } catch (cause) {
    throw new UnauthorizedError('Malformed token.', { cause, invalidToken: true });
  }
  if (alg !== 'HS256') throw new UnauthorizedError('Unsupported token algorithm.', INVALID);
  if (!sameText(signature, hmacSha256(secret, `${header}.${payload}`)))
    throw new UnauthorizedError('Invalid token signature.', INVALID);
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims))
    throw new UnauthorizedError('Malformed token.', INVALID);
  const { exp, nbf, iss, aud } = claims as { exp?: unknown; nbf?: unknown; iss?: unknown; aud?: unknown };
  if (!isOptionalTime(exp) || !isOptionalTime(nbf)) throw new UnauthorizedError('Malformed token.', INVALID);
  const seconds = now / 1000;
  if (exp !== undefined && seconds > exp + clockSkewSeconds)
    throw new UnauthorizedError('Token expired.', INVALID);
  if (nbf !== undefined && seconds < nbf - clockSkewSeconds)
    throw new UnauthorizedError('Token not yet valid.', INVALID);
  if (issuer !== undefined && iss !== issuer) throw new UnauthorizedError('Invalid token issuer.', INVALID);
  if (audience !== undefined && !(aud === audience || (Array.isArray(aud) && aud.includes(audience))))
    throw new UnauthorizedError('Invalid token audience.', INVALID);
  return claims as Claims;
}

/** Signs an HS256 JWT (for tests, tools and the demo). */
export function signJwt(claims: Record<string, unknown>, secret: string): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${header}.${payload}.${hmacSha256(secret, `${header}.${payload}`)}`;
}

/** A NumericDate claim: absent, or a finite number of seconds. */
function isOptionalTime(value: unknown): value is number | undefined {
  return value === undefined || (typeof value === 'number' && Number.isFinite(value));
}
