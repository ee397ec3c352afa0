/** A request target read as origin-form (`/path?query`), the only form the hub server serves. */
export interface RequestTarget {
  /** The path as sent: not percent-decoded, dot segments not resolved, so `/chat/../x` is not `/x`. */
  readonly path: string;
  /** The query parameters (the other parts of this URL mean nothing). */
  readonly url: URL;
}

/**
 * Reads a request target without letting any part of it be taken for a scheme or a host (a URL parser
 * reads `//a:b@host` as a host and throws on `//[`). Undefined for a target that is not a plain path: one
 * not starting with a single `/`, or with a backslash, a space or a control or non-ASCII character in its
 * path. Never throws.
 */
export function parseRequestTarget(target: string | undefined): RequestTarget | undefined {
  const raw = target ?? '/';
  const fragment = raw.indexOf('#');
  const withoutFragment = fragment < 0 ? raw : raw.slice(0, fragment);
  const query = withoutFragment.indexOf('?');
  const path = query < 0 ? withoutFragment : withoutFragment.slice(0, query);
  if (!path.startsWith('/') || path.startsWith('//') || !/^[\x21-\x7e]*$/.test(path) || path.includes('\\'))
    return undefined;
  const url = new URL('http://localhost/');
  if (query >= 0) url.search = withoutFragment.slice(query); // percent-encodes what it must; never throws
  return { path, url };
}

/**
 * The path of a request target, without its query: what logs may show of a request (the query carries the
 * connection token and `access_token`, which are secrets).
 */
export function requestPath(target: string | undefined): string {
  const raw = target ?? '/';
  const end = raw.search(/[?#]/);
  return end < 0 ? raw : raw.slice(0, end);
}
