import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createConsoleLogger, HubLifetimeManager, type Logger, type Transport } from '@backplane/core';
import { HubServer } from '@backplane/signalr';
import type { ServeOptions } from './args.js';
import { ChatHub } from './chat-hub.js';
import { createTransport } from './drivers.js';

/** The dev default shared by `serve` processes without `--token-secret` (identity is unauthenticated then anyway). */
const DEV_TOKEN_SECRET = 'backplane-dev-token-secret';
/** Largest `POST /api/broadcast` body, in bytes. */
const MAX_BROADCAST_BYTES = 64 * 1024;

export interface RunningNode {
  readonly url: string;
  readonly nodeId: string;
  readonly manager: HubLifetimeManager;
  close(): Promise<void>;
}

export interface NodeServerOptions extends ServeOptions {
  /** Browser origins allowed to reach this node (the demo page). */
  corsOrigins?: readonly string[];
  /** A transport to use instead of `--driver`/`--url` (the demo's shared memory bus). */
  transport?: Transport;
  logger?: Logger;
}

/** Starts one `backplane serve` node: the `/chat` hub, `POST /api/broadcast` and `GET /health`. */
export async function startNodeServer(options: NodeServerOptions): Promise<RunningNode> {
  const transport =
    options.transport ?? createTransport(options.driver, options.url, options.prefix, options.durable);
  const manager = new HubLifetimeManager({
    transport,
    hub: 'chat',
    prefix: options.prefix,
    ...(options.nodeId && { nodeId: options.nodeId }),
    ...(options.outbox ? {} : { outbox: false as const }),
    ...(options.durable && { durable: true }),
    // The chat hub keeps no state to push again: say which clients may have missed messages.
    reconcile: (missed): void => log.warn('Connections missed messages', { ...missed }),
    ...(options.logger && { logger: options.logger }),
  });
  const log: Logger = options.logger ?? createConsoleLogger(manager.nodeId);
  try {
    await manager.start();
  } catch (error) {
    await manager.close().catch(() => {});
    throw error;
  }
  const tokenSecret =
    options.tokenSecret ??
    process.env.BACKPLANE_TOKEN_SECRET ??
    (options.jwtSecret
      ? createHmac('sha256', options.jwtSecret).update('connection-tokens').digest('hex')
      : DEV_TOKEN_SECRET);
  const hubs = new HubServer({
    tokenSecret,
    ...(options.jwtSecret ? { jwtSecret: options.jwtSecret } : { userIdQueryParameter: 'user' }),
    ...(options.corsOrigins && { corsOrigins: options.corsOrigins }),
    logger: log,
  }).mapHub('/chat', ChatHub, manager);
  const chat = hubs.hubContext('/chat');

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health' && req.method === 'GET') {
      const link = manager.link;
      json(res, 200, {
        status: link.up ? 'ok' : 'degraded',
        nodeId: manager.nodeId,
        serverId: manager.serverId,
        backplane: manager.state.type,
        link: link.up ? 'up' : `down: ${link.reason}`,
        connections: hubs.connectionCount(),
        stats: manager.stats,
      });
      return;
    }
    if (path === '/api/broadcast' && req.method === 'POST') {
      void broadcast(req, res).catch((error: unknown) => {
        log.warn('Broadcast failed', { error });
        if (!res.headersSent) json(res, 503, { error: 'The backplane could not take the message.' });
      });
      return;
    }
    json(res, 404, { error: 'Not found' });
  });
  hubs.attach(server);

  async function broadcast(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) {
      body += chunk;
      if (body.length > MAX_BROADCAST_BYTES) return json(res, 413, { error: 'Body too large.' });
    }
    let input: { user?: unknown; message?: unknown; group?: unknown; userId?: unknown };
    try {
      input = JSON.parse(body) as typeof input;
    } catch {
      return json(res, 400, { error: 'Body must be JSON: { user, message, group?, userId? }.' });
    }
    const { user, message, group, userId } = input ?? {};
    if (typeof user !== 'string' || typeof message !== 'string')
      return json(res, 400, { error: "'user' and 'message' must be strings." });
    if (
      (group !== undefined && typeof group !== 'string') ||
      (userId !== undefined && typeof userId !== 'string')
    )
      return json(res, 400, { error: "'group' and 'userId' must be strings when given." });
    const target = group ? chat.group(group) : userId ? chat.user(userId) : chat.all;
    await target.send('ReceiveMessage', user, message);
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
      await hubs.close();
      server.closeIdleConnections();
      const closed = new Promise((resolve) => server.close(resolve));
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
