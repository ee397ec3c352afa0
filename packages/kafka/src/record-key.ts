/**
 * Header set on a record whose key is UTF-16LE: a channel name with lone surrogates, which UTF-8 cannot
 * carry. Every client writes and reads keys this way, so servers on different clients understand each other.
 */
export const KEY_ENCODING_HEADER = 'bp-key-encoding';

/** True when `s` has no lone surrogate (String.prototype.isWellFormed, spelled out for the ES2023 lib). */
export function isWellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}
