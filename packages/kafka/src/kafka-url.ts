import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '@backplane/core';
import type { KafkaSaslOptions, KafkaTlsOptions } from './kafka-client.js';
import type { KafkaClientName, KafkaDriverOptions } from './kafka-driver.js';

/** What {@link parseKafkaUrl} found. */
export interface ParsedKafkaUrl {
  /** Bootstrap brokers, `host:port` each (an IPv6 host in brackets). */
  readonly brokers: readonly string[];
  /** `kafkas://`: TLS to every broker. */
  readonly tls: boolean;
  /** From the URL's user and password, with `?sasl=` (default `plain`). */
  readonly sasl?: KafkaSaslOptions;
  /** `?ca=`: a file with the CA certificates (PEM) the brokers' certificates must chain to. */
  readonly caFile?: string;
  /** `?cert=`: a file with the client certificate (PEM), for mutual TLS. */
  readonly certFile?: string;
  /** `?key=`: a file with the client certificate's private key (PEM). */
  readonly keyFile?: string;
  /** `?rejectUnauthorized=false`: accept any broker certificate (tests only). */
  readonly rejectUnauthorized?: boolean;
  /** `?client=`: which built-in client the driver uses. */
  readonly client?: KafkaClientName;
}

const DEFAULT_PORT = 9092;
const FORMS =
  'kafka://[user:pass@]host:port,host:port[?sasl=plain|scram-sha-256|scram-sha-512], or kafkas://… for TLS ' +
  '(&ca=<file>&cert=<file>&key=<file>&rejectUnauthorized=false), or host:port,host:port';
const MECHANISMS = new Set<KafkaSaslOptions['mechanism']>(['plain', 'scram-sha-256', 'scram-sha-512']);
const CLIENTS = new Set<KafkaClientName>(['platformatic', 'kafkajs']);
const QUERY = new Set(['sasl', 'ca', 'cert', 'key', 'rejectUnauthorized', 'client']);
const TLS_QUERY = new Set(['ca', 'cert', 'key', 'rejectUnauthorized']);

/**
 * Parses the URL forms `serve --url` accepts for Kafka (`kafka://[user:pass@]host:port,…[?sasl=…]`, `kafkas://…` for TLS, or a bare `host:port,…` list). Pure: no I/O (the certificate
 * files are named, not read). A malformed URL throws `InvalidArgumentError` naming what is wrong; the
 * message never repeats any part of the URL (a password typed in the wrong place must not end up in a log).
 */
export function parseKafkaUrl(url: string): ParsedKafkaUrl {
  const fail = (problem: string): never => {
    throw new InvalidArgumentError(`Invalid Kafka URL: ${problem}. Expected ${FORMS}.`);
  };
  let rest = url.trim();
  let tls = false;
  const schemeEnd = rest.indexOf('://');
  if (schemeEnd >= 0) {
    const scheme = rest.slice(0, schemeEnd).toLowerCase();
    if (scheme !== 'kafka' && scheme !== 'kafkas') fail('unknown scheme (the part before ://)');
    tls = scheme === 'kafkas';
    rest = rest.slice(schemeEnd + 3);
  }
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
  if (userinfo !== undefined && schemeEnd < 0) fail('credentials need the kafka:// or kafkas:// scheme');
  let authority = at >= 0 ? rest.slice(at + 1) : rest;
  if (authority.endsWith('/')) authority = authority.slice(0, -1);
  if (authority.includes('/')) fail('a Kafka URL takes no path');
  if (authority === '') fail('no host');
  const brokers = authority.split(',').map((part, i) => parseHost(part, i + 1, fail));
  const params = parseQuery(query, fail);
  for (const key of params.keys()) {
    if (!QUERY.has(key))
      fail(
        'unsupported query parameter (known: sasl, client, and with kafkas: ca, cert, key, rejectUnauthorized)',
      );
    if (TLS_QUERY.has(key) && !tls) fail(`?${key}= needs TLS: use kafkas://`);
  }

  const mechanism = params.get('sasl')?.toLowerCase();
  if (mechanism !== undefined && !MECHANISMS.has(mechanism as KafkaSaslOptions['mechanism']))
    fail('?sasl= must be plain, scram-sha-256 or scram-sha-512');
  let sasl: KafkaSaslOptions | undefined;
  if (userinfo !== undefined) {
    const { username, password } = parseUserinfo(userinfo, fail);
    if (username === '') fail('SASL needs a user name before the password');
    if (password === undefined) fail('SASL needs a password after the user name (user:password@)');
    sasl = {
      mechanism: (mechanism ?? 'plain') as KafkaSaslOptions['mechanism'],
      username,
      password: password as string,
    };
  } else if (mechanism !== undefined) fail('?sasl= needs a user and a password (user:password@host)');

  const client = params.get('client');
  if (client !== undefined && !CLIENTS.has(client as KafkaClientName))
    fail('?client= must be platformatic or kafkajs');
  const reject = params.get('rejectUnauthorized');
  if (reject !== undefined && reject !== 'true' && reject !== 'false')
    fail('?rejectUnauthorized= must be true or false');
  const file = (key: string): string | undefined => {
    const value = params.get(key);
    if (value === '') fail(`?${key}= needs a file name`);
    return value;
  };
  const caFile = file('ca');
  const certFile = file('cert');
  const keyFile = file('key');
  if ((certFile === undefined) !== (keyFile === undefined)) fail('?cert= and ?key= go together');
  return {
    brokers,
    tls,
    ...(sasl && { sasl }),
    ...(caFile !== undefined && { caFile }),
    ...(certFile !== undefined && { certFile }),
    ...(keyFile !== undefined && { keyFile }),
    ...(reject !== undefined && { rejectUnauthorized: reject === 'true' }),
    ...(client !== undefined && { client: client as KafkaClientName }),
  };
}

/**
 * The driver options a URL stands for (see {@link parseKafkaUrl}), with the certificate files it names
 * read now. A file that cannot be read throws `InvalidArgumentError` naming the parameter and the file.
 */
export function kafkaOptionsFromUrl(
  url: string,
): Pick<KafkaDriverOptions, 'brokers' | 'sasl' | 'tls' | 'client'> {
  const parsed = parseKafkaUrl(url);
  const read = (what: string, file: string | undefined): string | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (cause) {
      throw new InvalidArgumentError(
        `Invalid Kafka URL: cannot read the ?${what}= file '${file}' (${(cause as NodeJS.ErrnoException).code ?? 'error'}).`,
        { cause },
      );
    }
  };
  let tls: KafkaTlsOptions | undefined;
  if (parsed.tls) {
    const ca = read('ca', parsed.caFile);
    const cert = read('cert', parsed.certFile);
    const key = read('key', parsed.keyFile);
    tls = {
      ...(ca !== undefined && { ca }),
      ...(cert !== undefined && { cert }),
      ...(key !== undefined && { key }),
      ...(parsed.rejectUnauthorized !== undefined && { rejectUnauthorized: parsed.rejectUnauthorized }),
    };
  }
  return {
    brokers: [...parsed.brokers],
    ...(parsed.sasl && { sasl: parsed.sasl }),
    ...(tls && { tls }),
    ...(parsed.client && { client: parsed.client }),
  };
}

/** The URL with its password replaced by `***`, for logs and errors. */
export function redactKafkaUrl(url: string): string {
  return url.replace(/^([^:/?#]+:\/\/[^:@/?#]*:)[^@]*@/, '$1***@');
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
): { username: string; password?: string } {
  const colon = userinfo.indexOf(':');
  const username = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, 'the user name', fail);
  const password = colon >= 0 ? decode(userinfo.slice(colon + 1), 'the password', fail) : undefined;
  return { username, ...(password !== undefined && password !== '' && { password }) };
}

function parseHost(part: string, index: number, fail: (problem: string) => never): string {
  let host: string;
  let port: string | undefined;
  let ipv6 = false;
  const trimmed = part.trim();
  if (trimmed.startsWith('[')) {
    const close = trimmed.indexOf(']');
    if (close < 0) fail(`host #${index}: an IPv6 address needs its closing ]`);
    host = trimmed.slice(1, close);
    ipv6 = true;
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
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65_535))
    fail(`host #${index}: the port must be a number from 1 to 65535`);
  return `${ipv6 ? `[${host}]` : host}:${port === undefined ? DEFAULT_PORT : Number(port)}`;
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
