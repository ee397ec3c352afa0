import { InvalidArgumentError } from '@backplane/core';
import {
  decodeUrlPart,
  parseUrlHost,
  parseUrlQuery,
  parseUrlUserinfo,
  redactUrlPassword,
} from '@backplane/core/internal';

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

  const credentials = userinfo === undefined ? {} : parseUrlUserinfo(userinfo, fail);
  const defaultPort = form.mode === 'sentinel' ? DEFAULT_SENTINEL_PORT : DEFAULT_PORT;
  if (authority === '') fail('no host');
  const hosts = authority.split(',').map((part, i) => parseUrlHost(part, i + 1, defaultPort, fail));
  const params = parseUrlQuery(query, fail);
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
  const name = decodeUrlPart(encodedName, 'the master name', fail);
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

function parseDb(path: string, fail: (problem: string) => never): number {
  if (path === '') return 0;
  if (!/^\d{1,5}$/.test(path)) fail('the database (the path) must be a number, e.g. /0');
  return Number(path);
}

/** The URL with its password (and a sentinel password) replaced by `***`, for logs and errors. */
export function redactRedisUrl(url: string): string {
  return redactUrlPassword(url).replace(/([?&]sentinelPassword=)[^&#]*/, '$1***');
}
