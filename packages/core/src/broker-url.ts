/**
 * Pieces of a broker URL the drivers' URL parsers share: `user:password@`, `host:port` lists (IPv6 in
 * brackets) and `?key=value&…`. Each reports a problem through `fail`, which names what is wrong without
 * repeating any part of the URL (a password typed in the wrong place must not end up in a log).
 */
export type UrlProblem = (problem: string) => never;

/** A host and port of a broker URL; `host` is an IPv6 address without its brackets when it has a `:`. */
export interface UrlEndpoint {
  readonly host: string;
  readonly port: number;
}

/** `decodeURIComponent`, a malformed escape reported as a problem of `what`. */
export function decodeUrlPart(text: string, what: string, fail: UrlProblem): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return fail(`${what} has a malformed percent-encoding`);
  }
}

/** `user[:password]`, decoded; an empty user name or password is absent. */
export function parseUrlUserinfo(
  userinfo: string,
  fail: UrlProblem,
): { username?: string; password?: string } {
  const colon = userinfo.indexOf(':');
  const username = decodeUrlPart(colon >= 0 ? userinfo.slice(0, colon) : userinfo, 'the user name', fail);
  const password = colon >= 0 ? decodeUrlPart(userinfo.slice(colon + 1), 'the password', fail) : undefined;
  return {
    ...(username !== '' && { username }),
    ...(password !== undefined && password !== '' && { password }),
  };
}

/** `host[:port]` or `[ipv6][:port]`, the `index`-th of a list (1-based, for problems), `defaultPort` if none. */
export function parseUrlHost(
  part: string,
  index: number,
  defaultPort: number,
  fail: UrlProblem,
): UrlEndpoint {
  let host: string;
  let port: string | undefined;
  const trimmed = part.trim();
  if (trimmed.startsWith('[')) {
    const close = trimmed.indexOf(']');
    if (close < 0) fail(`host #${index}: an IPv6 address needs its closing ]`);
    host = trimmed.slice(1, close);
    const after = trimmed.slice(close + 1);
    if (after !== '' && !after.startsWith(':'))
      fail(`host #${index}: unexpected text after the IPv6 address`);
    port = after === '' ? undefined : after.slice(1);
  } else {
    const colon = trimmed.indexOf(':');
    host = colon >= 0 ? trimmed.slice(0, colon) : trimmed;
    port = colon >= 0 ? trimmed.slice(colon + 1) : undefined;
  }
  if (host === '') fail(`host #${index} is empty`);
  if (!/^[A-Za-z0-9._:%-]+$/.test(host)) fail(`host #${index} has characters a host name cannot have`);
  if (port === undefined) return { host, port: defaultPort };
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65_535)
    fail(`host #${index}: the port must be a number from 1 to 65535`);
  return { host, port: Number(port) };
}

/** `key=value&…`, decoded; a repeated key is a problem. */
export function parseUrlQuery(query: string, fail: UrlProblem): Map<string, string> {
  const params = new Map<string, string>();
  if (query === '') return params;
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decodeUrlPart(eq >= 0 ? pair.slice(0, eq) : pair, 'a query parameter', fail);
    const value = decodeUrlPart(eq >= 0 ? pair.slice(eq + 1) : '', 'a query parameter', fail);
    if (params.has(key)) fail('a query parameter is repeated');
    params.set(key, value);
  }
  return params;
}

/** The URL with the password of its `user:password@` replaced by `***`, for logs and errors. */
export function redactUrlPassword(url: string): string {
  return url.replace(/^([^:/?#]+:\/\/[^:@/?#]*:)[^@]*@/, '$1***@');
}
