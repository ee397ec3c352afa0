import { InvalidArgumentError } from '@backplane/core';

/** What a list of server URLs tells the connection: the servers, and the credentials and TLS they share. */
export interface ParsedServers {
  /** `scheme://host:port` for each server, credentials removed (safe to log). */
  readonly servers: string[];
  /** From `nats://user:pass@host:port`. */
  readonly user?: string;
  readonly pass?: string;
  /** From `nats://token@host:port`. */
  readonly token?: string;
  /** Every URL is `tls://`: the connection must use TLS. */
  readonly tls: boolean;
}

const SCHEMES = new Set(['nats:', 'tls:']);

/**
 * Reads server URLs the way an operator writes them: a string or an array, each string possibly a
 * comma-separated list (`nats://a:4222,nats://b:4222` or `nats://a:4222,b:4222`: an entry without a scheme
 * takes the previous entry's). Schemes: `nats://` (TLS if the server asks for it) and `tls://` (TLS
 * required); the port defaults to 4222. nats.js ignores credentials in URLs, so they are taken out here:
 * `user:pass@` becomes the connection's user and password, a lone `token@` its token; every URL that carries
 * credentials must carry the same ones, and `nats://` and `tls://` cannot be mixed (one connection, one
 * setting). Throws `InvalidArgumentError` otherwise.
 */
export function parseServers(input: string | readonly string[]): ParsedServers {
  const entries = (typeof input === 'string' ? [input] : input)
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (entries.length === 0) throw new InvalidArgumentError('servers must name at least one NATS server.');
  let scheme = 'nats:';
  let credentials: string | undefined;
  const schemes = new Set<string>();
  const servers: string[] = [];
  for (const entry of entries) {
    let url: URL;
    try {
      url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ? entry : `${scheme}//${entry}`);
    } catch (cause) {
      throw new InvalidArgumentError(`'${redact(entry)}' is not a NATS server URL.`, { cause });
    }
    if (!SCHEMES.has(url.protocol) || url.hostname === '' || (url.pathname !== '' && url.pathname !== '/'))
      throw new InvalidArgumentError(
        `'${redact(entry)}' is not a NATS server URL (nats://[user:pass@]host[:port] or tls://...).`,
      );
    scheme = url.protocol;
    schemes.add(scheme);
    const given = url.username || url.password ? `${url.username}:${url.password}` : undefined;
    if (given !== undefined) {
      if (credentials !== undefined && credentials !== given)
        throw new InvalidArgumentError('Every NATS server URL with credentials must carry the same ones.');
      credentials = given;
    }
    servers.push(`${scheme}//${url.hostname}:${url.port || '4222'}`);
  }
  if (schemes.size > 1)
    throw new InvalidArgumentError(
      'NATS server URLs cannot mix nats:// and tls:// (one connection, one setting).',
    );
  const parsed = { servers, tls: scheme === 'tls:' };
  if (credentials === undefined) return parsed;
  const colon = credentials.indexOf(':');
  const user = decodeURIComponent(credentials.slice(0, colon));
  const pass = decodeURIComponent(credentials.slice(colon + 1));
  return pass === '' ? { ...parsed, token: user } : { ...parsed, user, pass };
}

/** A URL with its credentials masked, for error messages. */
function redact(entry: string): string {
  return entry.replace(/\/\/[^@/]*@/, '//***@');
}

/** The host of a `host:port` a server advertises (an IPv6 address in brackets comes out without them). */
export function hostOf(server: string): string {
  return server.startsWith('[') ? server.slice(1, server.indexOf(']')) : server.replace(/:\d+$/, '');
}
