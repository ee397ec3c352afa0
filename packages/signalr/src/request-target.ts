/**
 * The path of a request target, without its query: what logs may show of a request (the query carries the
 * connection token and `access_token`, which are secrets).
 */
export function requestPath(target: string | undefined): string {
  const raw = target ?? '/';
  const end = raw.search(/[?#]/);
  return end < 0 ? raw : raw.slice(0, end);
}
