import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createConsoleLogger,
  type Driver,
  HubLifetimeManager,
  InvalidArgumentError,
  type Logger,
} from '@backplane/core';
import { registerBackplaneMetrics } from '@backplane/prometheus';
import { HubServer, UnauthorizedError, verifyJwt } from '@backplane/signalr';
import { Registry } from 'prom-client';
import type { ServeOptions } from './args.js';
import { ANONYMOUS, AuthenticatedChatHub, ChatHub } from './chat-hub.js';
import { createDriver } from './drivers.js';

/** Largest `POST /api/broadcast` body, in bytes. */
const MAX_BROADCAST_BYTES = 64 * 1024;
/** Headers on every response of this server (the hub paths set their own). */
export const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
} as const;

/** A node started by `startNodeServer`: its URL, node id and lifetime manager; `close()` stops it. */
export interface RunningNode {
  readonly url: string;
  readonly nodeId: string;
  readonly manager: HubLifetimeManager;
  close(): Promise<void>;
}

/** What `startNodeServer` takes: the options of `backplane serve`, and what embedding a node needs. */
export interface NodeServerOptions extends ServeOptions {
  /** Browser origins allowed to reach this node (the demo page). */
  corsOrigins?: readonly string[];
  /** A driver to use instead of `--driver`/`--url` (the demo's shared memory bus). */
  sharedDriver?: Driver;
  logger?: Logger;
}

/**
 * Starts one `backplane serve` node: the `/chat` hub, `POST /api/broadcast`, `GET /health` and
 * `GET /metrics`. With `jwtSecret`, the hub and `/api/broadcast` need the same Bearer JWT.
 */
export async function startNodeServer(options: NodeServerOptions): Promise<RunningNode> {
  const driver = options.sharedDriver ?? createDriver(options);
  // One logger for the node (manager, hub server, this file), so every line has the same node id and format.
  const nodeId = options.nodeId ?? `node-${randomBytes(4).toString('hex')}`;
  const log: Logger =
    options.logger ?? createConsoleLogger(nodeId, { level: options.logLevel, format: options.logFormat });
  const manager = new HubLifetimeManager({
    driver,
    hub: 'chat',
    prefix: options.prefix,
    nodeId,
    ...(options.outbox ? {} : { outbox: false as const }),
    ...(options.durable && { durable: true }),
    // The chat hub keeps no state to push again: say which clients may have missed messages.
    reconcile: (missed): void => log.warn('Connections missed messages', { ...missed }),
    logger: log,
  });
  try {
    await manager.start();
  } catch (error) {
    await manager.close().catch(() => {});
    throw error;
  }
  const { jwtSecret } = options;
  // No constant anywhere: a given secret, one derived from the JWT secret (as secret as it is), or the
  // HubServer's random per-process secret.
  const tokenSecret =
    options.tokenSecret ??
    (jwtSecret ? createHmac('sha256', jwtSecret).update('connection-tokens').digest('hex') : undefined);
  const hubs = new HubServer({
    ...(tokenSecret && { tokenSecret }),
    ...(jwtSecret ? { jwtSecret } : { userIdQueryParameter: 'user' }),
    ...(options.corsOrigins && { corsOrigins: options.corsOrigins }),
    logger: log,
  }).mapHub('/chat', jwtSecret ? AuthenticatedChatHub : ChatHub, manager);
  const chat = hubs.hubContext('/chat');
  // The metrics of @backplane/prometheus (docs/operations.md lists them), in a registry of this node's own.
  const metrics = new Registry();
  registerBackplaneMetrics(metrics, { manager, hubServer: hubs });

  const server = createServer((req, res) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health' && req.method === 'GET') {
      // Minimal on purpose: no ids, no counters (those are on /metrics).
      const link = manager.link;
      res.setHeader('Cache-Control', 'no-store');
      json(res, 200, {
        status: link.up ? 'ok' : 'degraded',
        backplane: manager.state.type,
        link: link.up ? 'up' : `down: ${link.reason}`,
      });
      return;
    }
    if (path === '/metrics' && req.method === 'GET') {
      res.setHeader('Cache-Control', 'no-store');
      void metrics.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': metrics.contentType }).end(text),
        (error: unknown) => {
          log.warn('Metrics failed', { error });
          res.writeHead(500).end();
        },
      );
      return;
    }
    if (path === '/api/broadcast' && req.method === 'POST') {
      void broadcast(req, res).catch((error: unknown) => {
        if (res.headersSent) return void res.destroy();
        // A name the lifetime manager refuses (too long, ...) is the caller's mistake.
        if (error instanceof InvalidArgumentError) return json(res, 400, { error: error.message });
        log.warn('Broadcast failed', { error });
        json(res, 503, { error: 'The backplane could not take the message.' });
      });
      return;
    }
    json(res, 404, { error: 'Not found' });
  });
  hubs.attach(server);

  /** The caller of `/api/broadcast`: with a JWT secret, the subject of a valid Bearer token. */
  function caller(req: IncomingMessage): { user: string | undefined } {
    if (!jwtSecret) return { user: undefined };
    const match = /^bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!match) throw new UnauthorizedError('A bearer token is required.');
    const { sub } = verifyJwt(match[1]!, jwtSecret);
    return { user: typeof sub === 'string' && sub !== '' ? sub : ANONYMOUS };
  }

  async function broadcast(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let identity: { user: string | undefined };
    try {
      identity = caller(req);
    } catch (error) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return json(res, 401, { error: (error as Error).message });
    }
    // JSON only: a cross-site page can send text/plain without asking, never application/json.
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') return json(res, 415, { error: "The body must be 'application/json'." });
    let body = '';
    for await (const chunk of req) {
      body += chunk;
      if (body.length > MAX_BROADCAST_BYTES) return json(res, 413, { error: 'Body too large.' });
    }
    let input: unknown;
    try {
      input = JSON.parse(body);
    } catch {
      return json(res, 400, { error: 'Body must be JSON: { user, message, group?, userId? }.' });
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      return json(res, 400, { error: 'Body must be a JSON object: { user, message, group?, userId? }.' });
    const { user, message, group, userId } = input as Record<string, unknown>;
    if (typeof user !== 'string' || typeof message !== 'string')
      return json(res, 400, { error: "'user' and 'message' must be strings." });
    if (
      (group !== undefined && (typeof group !== 'string' || group === '')) ||
      (userId !== undefined && (typeof userId !== 'string' || userId === ''))
    )
      return json(res, 400, { error: "'group' and 'userId' must be non-empty strings when given." });
    if (group !== undefined && userId !== undefined)
      return json(res, 400, { error: "Give 'group' or 'userId', not both." });
    const target =
      group !== undefined ? chat.group(group) : userId !== undefined ? chat.user(userId) : chat.all;
    // Behind a JWT secret the sender is who the token names, as in the hub.
    await target.send('ReceiveMessage', identity.user ?? user, message);
    json(res, 202, { accepted: true });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    nodeId: manager.nodeId,
    manager,
    async close() {
      // Stop listening first: clients whose sessions are handed off reconnect to the other nodes.
      const closed = new Promise((resolve) => server.close(resolve));
      await hubs.close();
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), 2_000);
      await closed;
      clearTimeout(timer);
      await manager.close();
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}
