import { InvalidArgumentError } from '@backplane/core';

/** A Redis host and port. */
export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
}

/** Credentials and TLS, shared by every form. */
export interface RedisUrlCommon {
  /** `rediss…://`: TLS to every node (and to the sentinels). */
  readonly tls: boolean;
  /** ACL user of the data nodes. */
  readonly username?: string;
  /** Password of the data nodes (master and replicas). */
  readonly password?: string;
}

/** What {@link parseRedisUrl} found: one of the three topologies. */
export type ParsedRedisUrl =
  | (RedisUrlCommon & {
      readonly mode: 'standalone';
      readonly host: string;
      readonly port: number;
      readonly db: number;
    })
  | (RedisUrlCommon & { readonly mode: 'cluster'; readonly nodes: readonly RedisEndpoint[] })
  | (RedisUrlCommon & {
      readonly mode: 'sentinel';
      readonly sentinels: readonly RedisEndpoint[];
      /** The monitored master's name. */
      readonly name: string;
      readonly db: number;
      /** Sentinels' own ACL user (`?sentinelUsername=`), when they require one. */
      readonly sentinelUsername?: string;
      /** Sentinels' own password (`?sentinelPassword=`), when they require one. */
      readonly sentinelPassword?: string;
    });

const DEFAULT_PORT = 6379;
const DEFAULT_SENTINEL_PORT = 26379;
const MODES: Record<string, { mode: ParsedRedisUrl['mode']; tls: boolean }> = {
  redis: { mode: 'standalone', tls: false },
  rediss: { mode: 'standalone', tls: true },
  'redis+cluster': { mode: 'cluster', tls: false },
  'rediss+cluster': { mode: 'cluster', tls: true },
  'redis+sentinel': { mode: 'sentinel', tls: false },
  'rediss+sentinel': { mode: 'sentinel', tls: true },
};
const FORMS =
  'redis://[user:pass@]host:port[/db], rediss://…, redis+cluster://[user:pass@]host:port,host:port,… or ' +
  'redis+sentinel://[user:pass@]host:port,host:port/<master name>[/db][?sentinelPassword=…]';
const SENTINEL_QUERY = new Set(['sentinelPassword', 'sentinelUsername']);

/**
 * Parses the URL forms `serve --url` accepts for Redis: `redis://[user:pass@]host:port[/db]`, `rediss://…`,
 * `redis+cluster://[user:pass@]host:port,host:port,…` and
 * `redis+sentinel://[user:pass@]host:port,host:port/<master name>[/db][?sentinelPassword=…]`. Pure: no
 * I/O. A malformed URL throws `InvalidArgumentError` naming what is wrong; the message never repeats any
 * part of the URL (a password typed in the wrong place must not end up in a log).
 */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  const fail = (problem: string): never => {
    throw new InvalidArgumentError(`Invalid Redis URL: ${problem}. Expected ${FORMS}.`);
  };
  const schemeEnd = url.indexOf('://');
  if (schemeEnd < 0) fail('no scheme');
  const form = MODES[url.slice(0, schemeEnd).toLowerCase()];
  if (!form) return fail('unknown scheme (the part before ://)');
  let rest = url.slice(schemeEnd + 3);
  let query = '';
  const queryAt = rest.indexOf('?');
  if (queryAt >= 0) {
    query = rest.slice(queryAt + 1);
    rest = rest.slice(0, queryAt);
  }
  if (rest.includes('#')) fail('a fragment (#) is not allowed; percent-encode # in a password as %23');
  // The credentials end at the last '@' (a password may hold '/' only percent-encoded).
  const at = rest.lastIndexOf('@');
  const userinfo = at >= 0 ? rest.slice(0, at) : undefined;
  rest = at >= 0 ? rest.slice(at + 1) : rest;
  const slash = rest.indexOf('/');
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash + 1) : '';

  const credentials = userinfo === undefined ? {} : parseUserinfo(userinfo, fail);
  const defaultPort = form.mode === 'sentinel' ? DEFAULT_SENTINEL_PORT : DEFAULT_PORT;
  if (authority === '') fail('no host');
  const hosts = authority.split(',').map((part, i) => parseHost(part, i + 1, defaultPort, fail));
  const params = parseQuery(query, fail);
  for (const key of params.keys())
    if (form.mode !== 'sentinel' || !SENTINEL_QUERY.has(key))
      fail(`unsupported query parameter (only sentinel URLs take sentinelPassword and sentinelUsername)`);
  const base = { tls: form.tls, ...credentials };

  if (form.mode === 'standalone') {
    if (hosts.length > 1)
      fail('several hosts need redis+cluster:// (a cluster) or redis+sentinel:// (sentinels)');
    return { mode: 'standalone', ...base, ...hosts[0]!, db: parseDb(path, fail) };
  }
  if (form.mode === 'cluster') {
    if (path !== '') fail('a cluster URL takes no path (Redis Cluster has only database 0)');
    return { mode: 'cluster', ...base, nodes: hosts };
  }
  const [encodedName = '', db = '', ...extra] = path.split('/');
  if (extra.length > 0) fail('a sentinel URL path is /<master name>[/db]');
  const name = decode(encodedName, 'the master name', fail);
  if (name === '') fail('a sentinel URL needs the master name as its path: /<master name>');
  const sentinelUsername = params.get('sentinelUsername');
  const sentinelPassword = params.get('sentinelPassword');
  return {
    mode: 'sentinel',
    ...base,
    sentinels: hosts,
    name,
    db: parseDb(db, fail),
    ...(sentinelUsername !== undefined && { sentinelUsername }),
    ...(sentinelPassword !== undefined && { sentinelPassword }),
  };
}

function decode(text: string, what: string, fail: (problem: string) => never): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return fail(`${what} has a malformed percent-encoding`);
  }
}

function parseUserinfo(
  userinfo: string,
  fail: (problem: string) => never,
): { username?: string; password?: string } {
  const colon = userinfo.indexOf(':');
  const username = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, 'the user name', fail);
  const password = colon >= 0 ? decode(userinfo.slice(colon + 1), 'the password', fail) : undefined;
  return {
    ...(username !== '' && { username }),
    ...(password !== undefined && password !== '' && { password }),
  };
}

function parseHost(
  part: string,
  index: number,
  defaultPort: number,
  fail: (problem: string) => never,
): RedisEndpoint {
  let host: string;
  let port: string | undefined;
  if (part.startsWith('[')) {
    const close = part.indexOf(']');
    if (close < 0) fail(`host #${index}: an IPv6 address needs its closing ]`);
    host = part.slice(1, close);
    const after = part.slice(close + 1);
    if (after !== '' && !after.startsWith(':'))
      fail(`host #${index}: unexpected text after the IPv6 address`);
    port = after === '' ? undefined : after.slice(1);
  } else {
    const colon = part.indexOf(':');
    host = colon >= 0 ? part.slice(0, colon) : part;
    port = colon >= 0 ? part.slice(colon + 1) : undefined;
  }
  if (host === '') fail(`host #${index} is empty`);
  if (!/^[A-Za-z0-9._:%-]+$/.test(host)) fail(`host #${index} has characters a host name cannot have`);
  if (port === undefined) return { host, port: defaultPort };
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65_535)
    fail(`host #${index}: the port must be a number from 1 to 65535`);
  return { host, port: Number(port) };
}

function parseDb(path: string, fail: (problem: string) => never): number {
  if (path === '') return 0;
  if (!/^\d{1,5}$/.test(path)) fail('the database (the path) must be a number, e.g. /0');
  return Number(path);
}

function parseQuery(query: string, fail: (problem: string) => never): Map<string, string> {
  const params = new Map<string, string>();
  if (query === '') return params;
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decode(eq >= 0 ? pair.slice(0, eq) : pair, 'a query parameter', fail);
    const value = decode(eq >= 0 ? pair.slice(eq + 1) : '', 'a query parameter', fail);
    if (params.has(key)) fail('a query parameter is repeated');
    params.set(key, value);
  }
  return params;
}

/** The URL with its password (and a sentinel password) replaced by `***`, for logs and errors. */
export function redactRedisUrl(url: string): string {
  return url
    .replace(/^([^:/?#]+:\/\/[^:@/?#]*:)[^@]*@/, '$1***@')
    .replace(/([?&]sentinelPassword=)[^&#]*/, '$1***');
}
