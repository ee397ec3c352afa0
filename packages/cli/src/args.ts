import { parseArgs } from 'node:util';
import type { LogFormat, LogLevel } from '@backplane/core';
import { UsageError } from './cli-error.js';

/** The drivers `--driver` accepts. */
export const DRIVERS = ['memory', 'redis', 'nats', 'kafka'] as const;
/** A driver `--driver` accepts. */
export type DriverName = (typeof DRIVERS)[number];

/** The options of `backplane serve`, as parsed from its flags. */
export interface ServeOptions {
  /** @default 5000 */
  port: number;
  /** @default '127.0.0.1' */
  host: string;
  /** @default 'memory' */
  driver: DriverName;
  /** Broker URL; the driver's default when absent. */
  url: string | undefined;
  /** @default 'backplane:' */
  prefix: string;
  durable: boolean;
  /**
   * Copies of the log kept by the broker: JetStream stream replicas (NATS), topic replication factor
   * (Kafka). @default the driver's choice from the cluster it finds: min(3, servers)
   */
  replicas: number | undefined;
  /** Outbox on unless --no-outbox. */
  outbox: boolean;
  /** HS256 secret: clients need a valid JWT (at least 32 bytes). @default undefined (no authentication) */
  jwtSecret: string | undefined;
  /**
   * Signs connection tokens; shared by the nodes so a negotiate on one and a WebSocket on another both work.
   * @default derived from `jwtSecret` when set, else a random secret per process (negotiate and connect
   * must then reach the same node)
   */
  tokenSecret: string | undefined;
  nodeId: string | undefined;
  /** The lowest level logged. @default the `BACKPLANE_LOG` environment variable, else 'warn' */
  logLevel?: LogLevel | undefined;
  /** `text`, or `json` (one object per line, for log collectors). @default 'text' */
  logFormat?: LogFormat | undefined;
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];
const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

const serveFlags = {
  port: { type: 'string' },
  host: { type: 'string' },
  driver: { type: 'string' },
  url: { type: 'string' },
  prefix: { type: 'string' },
  durable: { type: 'boolean' },
  replicas: { type: 'string' },
  'no-outbox': { type: 'boolean' },
  'jwt-secret': { type: 'string' },
  'token-secret': { type: 'string' },
  'node-id': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A parsed command line: what `parseCommand` returns. */
export type Command =
  | { readonly name: 'serve'; readonly options: ServeOptions }
  | { readonly name: 'demo'; readonly options: ServeOptions & { nodes: number } }
  | { readonly name: 'bench'; readonly args: readonly string[] }
  | { readonly name: 'help' };

/** Shortest accepted `--jwt-secret`, in bytes (HS256 keys shorter than the hash are guessable). */
export const MIN_JWT_SECRET_BYTES = 32;

/**
 * Parses `backplane <command> [flags]`. Every flag can also come from the environment as
 * `BACKPLANE_<FLAG>` (`--jwt-secret` -> `BACKPLANE_JWT_SECRET`), so secrets need not sit in the process
 * list; a flag on the command line wins. Throws {@link UsageError} for anything it does not understand.
 */
export function parseCommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Command {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') return { name: 'help' };
  if (name === 'bench') return { name: 'bench', args: rest };
  if (name !== 'serve' && name !== 'demo')
    throw new UsageError(`unknown command '${name}' (try: backplane --help)`);
  let values: Record<string, string | boolean | undefined>;
  try {
    const flags = name === 'demo' ? { ...serveFlags, nodes: { type: 'string' } } : serveFlags;
    ({ values } = parseArgs({
      args: [...rest],
      options: flags as typeof serveFlags,
      strict: true,
      allowPositionals: false,
    }));
  } catch (cause) {
    throw new UsageError((cause as Error).message, { cause });
  }
  if (values.help) return { name: 'help' };
  fromEnvironment(
    values,
    name === 'demo' ? [...Object.keys(serveFlags), 'nodes'] : Object.keys(serveFlags),
    env,
  );
  const options = serveOptions(values);
  if (name === 'serve') return { name, options };
  const nodes = values.nodes === undefined ? 3 : integer(values.nodes as string, '--nodes', 1, 16);
  return { name, options: { ...options, nodes } };
}

/** The environment variable of a flag: `--jwt-secret` -> `BACKPLANE_JWT_SECRET`. */
export function environmentVariable(flag: string): string {
  return `BACKPLANE_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Fills the flags the command line did not give from their `BACKPLANE_*` variables. */
function fromEnvironment(
  values: Record<string, string | boolean | undefined>,
  flags: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): void {
  for (const flag of flags) {
    if (flag === 'help' || values[flag] !== undefined) continue;
    const name = environmentVariable(flag);
    const text = env[name];
    if (text === undefined) continue;
    const type = (serveFlags as Record<string, { type: string }>)[flag]?.type ?? 'string';
    if (type === 'string') {
      values[flag] = text;
      continue;
    }
    const lower = text.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(lower)) values[flag] = true;
    else if (['', '0', 'false', 'no', 'off'].includes(lower)) values[flag] = false;
    else throw new UsageError(`${name} must be true or false (got '${text}')`);
  }
}

/** A secret flag: absent, or a non-empty string (an empty one would silently turn a protection off). */
function secret(value: string | boolean | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0)
    throw new UsageError(`${flag} must not be empty (${environmentVariable(flag.slice(2))} too)`);
  return value;
}

function serveOptions(values: Record<string, string | boolean | undefined>): ServeOptions {
  const jwtSecret = secret(values['jwt-secret'], '--jwt-secret');
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret) < MIN_JWT_SECRET_BYTES)
    throw new UsageError(
      `--jwt-secret must be at least ${MIN_JWT_SECRET_BYTES} bytes (got ${Buffer.byteLength(jwtSecret)}): a short HS256 key can be guessed`,
    );
  const driver = (values.driver as string | undefined) ?? 'memory';
  if (!(DRIVERS as readonly string[]).includes(driver))
    throw new UsageError(`--driver must be one of ${DRIVERS.join(', ')} (got '${driver}')`);
  return {
    port: values.port === undefined ? 5000 : integer(values.port as string, '--port', 0, 65535),
    host: (values.host as string | undefined) ?? '127.0.0.1',
    driver: driver as DriverName,
    url: values.url as string | undefined,
    prefix: (values.prefix as string | undefined) ?? 'backplane:',
    durable: values.durable === true,
    replicas: values.replicas === undefined ? undefined : replicas(values.replicas as string, driver),
    outbox: values['no-outbox'] !== true,
    jwtSecret,
    tokenSecret: secret(values['token-secret'], '--token-secret'),
    nodeId: values['node-id'] as string | undefined,
    logLevel: oneOf(values['log-level'], '--log-level', LOG_LEVELS),
    logFormat: oneOf(values['log-format'], '--log-format', LOG_FORMATS),
  };
}

function oneOf<T extends string>(
  value: string | boolean | undefined,
  flag: string,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly unknown[]).includes(value))
    throw new UsageError(`${flag} must be one of ${allowed.join(', ')} (got '${String(value)}')`);
  return value as T;
}

/** `--replicas`: NATS allows up to 5 stream replicas; Redis replicates on its own (no such setting). */
function replicas(text: string, driver: string): number {
  if (driver !== 'nats' && driver !== 'kafka')
    throw new UsageError(`--replicas applies to the nats and kafka drivers (got --driver ${driver})`);
  return integer(text, '--replicas', 1, 5);
}

function integer(text: string, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new UsageError(`${flag} must be an integer from ${min} to ${max} (got '${text}')`);
  return value;
}

/** The text `backplane --help` prints. */
export const HELP = `backplane — scale-out for real-time hubs

Usage:
  backplane serve  [--port 5000] [--host 127.0.0.1] [--driver memory|redis|nats|kafka] [--url <broker url>]
                   [--prefix <channel prefix>] [--durable] [--replicas <n>] [--no-outbox] [--jwt-secret <s>]
                   [--token-secret <s>] [--node-id <id>] [--log-level debug|info|warn|error|silent]
                   [--log-format text|json]
  backplane demo   [--nodes 3] [--port 5000] [--driver memory|redis|…] [--url <broker url>]
  backplane bench  [--quick | --smoke] [--drivers memory,redis,nats,kafka] [--only <scenarios>] (backplane bench --help)
  backplane --help

serve prints "listening on http://HOST:PORT" once ready and serves the /chat hub, POST /api/broadcast,
GET /health and GET /metrics. Every flag can also be set from the environment: --jwt-secret as
BACKPLANE_JWT_SECRET, --durable as BACKPLANE_DURABLE=true, and so on (the command line wins).
--jwt-secret needs at least 32 bytes. Without --token-secret each process signs connection tokens with its
own random secret: give every node the same --token-secret when a client may negotiate on one node and
connect to another. Exit code 0 after SIGTERM/SIGINT, 2 for bad flags or an unreachable broker.
`;
