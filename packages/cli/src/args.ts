import { parseArgs } from 'node:util';
import { UsageError } from './cli-error.js';

export const DRIVERS = ['memory', 'redis', 'nats', 'kafka'] as const;
export type DriverName = (typeof DRIVERS)[number];

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
  /** Outbox on unless --no-outbox. */
  outbox: boolean;
  jwtSecret: string | undefined;
  /** Shared by the nodes so a negotiate on one and a WebSocket on another both work. @default a fixed dev secret, with a warning */
  tokenSecret: string | undefined;
  nodeId: string | undefined;
}

const serveFlags = {
  port: { type: 'string' },
  host: { type: 'string' },
  driver: { type: 'string' },
  url: { type: 'string' },
  prefix: { type: 'string' },
  durable: { type: 'boolean' },
  'no-outbox': { type: 'boolean' },
  'jwt-secret': { type: 'string' },
  'token-secret': { type: 'string' },
  'node-id': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Command =
  | { readonly name: 'serve'; readonly options: ServeOptions }
  | { readonly name: 'demo'; readonly options: ServeOptions & { nodes: number } }
  | { readonly name: 'bench'; readonly args: readonly string[] }
  | { readonly name: 'help' };

/** Parses `backplane <command> [flags]`. Throws {@link UsageError} for anything it does not understand. */
export function parseCommand(argv: readonly string[]): Command {
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
  const options = serveOptions(values);
  if (name === 'serve') return { name, options };
  const nodes = values.nodes === undefined ? 3 : integer(values.nodes as string, '--nodes', 1, 16);
  return { name, options: { ...options, nodes } };
}

function serveOptions(values: Record<string, string | boolean | undefined>): ServeOptions {
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
    outbox: values['no-outbox'] !== true,
    jwtSecret: values['jwt-secret'] as string | undefined,
    tokenSecret: values['token-secret'] as string | undefined,
    nodeId: values['node-id'] as string | undefined,
  };
}

function integer(text: string, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new UsageError(`${flag} must be an integer from ${min} to ${max} (got '${text}')`);
  return value;
}

export const HELP = `backplane — scale-out for real-time hubs

Usage:
  backplane serve  [--port 5000] [--host 127.0.0.1] [--driver memory|redis|nats|kafka] [--url <broker url>]
                   [--prefix <channel prefix>] [--durable] [--no-outbox] [--jwt-secret <s>]
                   [--token-secret <s>] [--node-id <id>]
  backplane demo   [--nodes 3] [--port 5000] [--driver memory|redis|…] [--url <broker url>]
  backplane bench  [--quick | --smoke] [--drivers memory,redis,nats,kafka] [--only <scenarios>] (backplane bench --help)
  backplane --help

serve prints "listening on http://HOST:PORT" once ready and serves the /chat hub, POST /api/broadcast
and GET /health. Exit code 0 after SIGTERM/SIGINT, 2 for bad flags or an unreachable broker.
`;
