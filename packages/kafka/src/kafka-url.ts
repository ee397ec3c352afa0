import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '@backplane/core';
import {
  parseUrlHost,
  parseUrlQuery,
  parseUrlUserinfo,
  redactUrlPassword,
  type UrlEndpoint,
} from '@backplane/core/internal';
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
  const brokers = authority
    .split(',')
    .map((part, i) => brokerAddress(parseUrlHost(part, i + 1, DEFAULT_PORT, fail)));
  const params = parseUrlQuery(query, fail);
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
    const { username, password } = parseUrlUserinfo(userinfo, fail);
    if (username === undefined) fail('SASL needs a user name before the password');
    if (password === undefined) fail('SASL needs a password after the user name (user:password@)');
    sasl = {
      mechanism: (mechanism ?? 'plain') as KafkaSaslOptions['mechanism'],
      username: username as string,
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
  return redactUrlPassword(url);
}

/** `host:port` for the client, an IPv6 address in brackets. */
function brokerAddress({ host, port }: UrlEndpoint): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
