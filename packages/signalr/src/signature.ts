import { createHmac, timingSafeEqual } from 'node:crypto';

/** The HMAC-SHA256 of `data` as unpadded base64url text: the only spelling of a signature accepted. */
export function hmacSha256(secret: string, data: string): string {
  return createHmac('sha256', secret).update(data).digest('base64url');
}

/**
 * Whether `actual` is exactly `expected`, in time independent of where they differ. Signatures are compared
 * as text, not as decoded bytes: base64url decoding skips characters outside the alphabet and ignores the
 * unused bits of the last character, so many texts decode to the one expected HMAC.
 */
export function sameText(actual: string, expected: string): boolean {
  const a = Buffer.from(actual, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
