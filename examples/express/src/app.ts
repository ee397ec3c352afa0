import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Driver, HubLifetimeManager, InvalidArgumentError, type Logger } from '@backplane/core';
import { HubServer } from '@backplane/signalr';
import express, { type NextFunction, type Request, type Response } from 'express';
import { ChatHub } from './chat-hub.js';
import { parseMessageBody } from './message-body.js';

export interface ChatAppOptions {
  /** Moves messages between nodes: `createMemoryDriver()` within one process, `createRedisDriver({ url })` across processes. */
  driver: Driver;
  /** @default 3000 (0: a random free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Signs connection tokens: give every node the same one (WebSockets then need no sticky sessions). @default random per process */
  tokenSecret?: string;
  /** This node's name in logs and connection ids. @default random */
  nodeId?: string;
  /** @default a console logger */
  logger?: Logger;
}

export interface ChatApp {
  /** `http://host:port`; the hub is at `${url}/chat`. */
  readonly url: string;
  readonly nodeId: string;
  /** Closes client connections (allowing them to reconnect elsewhere), the HTTP server, then the backplane. */
  close(): Promise<void>;
}

/** Starts one node: the Express app and the `/chat` hub on one `http.Server`. */
export async function startChatApp(options: ChatAppOptions): Promise<ChatApp> {
  const { logger } = options;
  // 1. The backplane: one lifetime manager per hub, with the same `hub` name on every node.
  const manager = new HubLifetimeManager({
    driver: options.driver,
    hub: 'chat',
    ...(options.nodeId && { nodeId: options.nodeId }),
    ...(logger && { logger }),
  });
  await manager.start();

  // 2. The hub server, and the hub's context for code outside the hub (HTTP handlers, jobs).
  const hubs = new HubServer({
    ...(options.tokenSecret && { tokenSecret: options.tokenSecret }),
    ...(logger && { logger }),
  }).mapHub('/chat', ChatHub, manager);
  const chat = hubs.hubContext('/chat');

  // 3. The Express app and its own routes.
  const app = express();
  app.use(express.json());
  app.get('/api/health', (_req, res) => {
    res.json({
      status: manager.link.up ? 'ok' : 'degraded',
      node: manager.nodeId,
      connections: hubs.connectionCount(),
    });
  });
  app.post('/api/messages', async (req, res) => {
    const body = parseMessageBody(req.body);
    if (typeof body === 'string') return void res.status(400).json({ error: body });
    const target = body.group === undefined ? chat.all : chat.group(body.group);
    await target.send('ReceiveMessage', body.user, body.message); // reaches clients on every node
    res.status(202).json({ accepted: true });
  });
  app.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    // A name the backplane refuses (too long, ...) is the caller's mistake; anything else is Express's 500.
    if (error instanceof InvalidArgumentError) return void res.status(400).json({ error: error.message });
    next(error);
  });

  // 4. One http.Server for both: the hub serves /chat and /chat/negotiate, Express everything else.
  const server = createServer(app);
  hubs.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, options.host ?? '127.0.0.1', resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    nodeId: manager.nodeId,
    async close() {
      await hubs.close();
      await new Promise((resolve) => {
        server.close(resolve);
        server.closeIdleConnections();
      });
      await manager.close();
    },
  };
}
