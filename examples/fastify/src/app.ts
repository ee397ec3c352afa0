import type { AddressInfo } from 'node:net';
import { type Driver, HubLifetimeManager, InvalidArgumentError, type Logger } from '@backplane/core';
import { HubServer } from '@backplane/signalr';
import Fastify from 'fastify';
import { ChatHub } from './chat-hub.js';

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

interface MessageBody {
  user?: string;
  message: string;
  group?: string;
}

/** Starts one node: the Fastify app and the `/chat` hub on Fastify's `http.Server`. */
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

  // 2. The Fastify app. Fastify makes its http.Server (`fastify.server`) at once, its handler installed.
  const fastify = Fastify();

  // 3. The hub server on that http.Server: it serves /chat and /chat/negotiate, Fastify everything else.
  const hubs = new HubServer({
    ...(options.tokenSecret && { tokenSecret: options.tokenSecret }),
    ...(logger && { logger }),
  })
    .mapHub('/chat', ChatHub, manager)
    .attach(fastify.server);
  const chat = hubs.hubContext('/chat'); // the hub's clients, for code outside the hub

  // 4. Fastify's own routes.
  fastify.get('/api/health', async () => ({
    status: manager.link.up ? 'ok' : 'degraded',
    node: manager.nodeId,
    connections: hubs.connectionCount(),
  }));
  fastify.post<{ Body: MessageBody }>(
    '/api/messages',
    {
      schema: {
        body: {
          type: 'object',
          required: ['message'],
          properties: {
            user: { type: 'string' },
            message: { type: 'string' },
            group: { type: 'string', minLength: 1 },
          },
        },
      },
    },
    async (request, reply) => {
      const { user = 'api', message, group } = request.body;
      const target = group === undefined ? chat.all : chat.group(group);
      await target.send('ReceiveMessage', user, message); // reaches clients on every node
      return reply.code(202).send({ accepted: true });
    },
  );
  fastify.setErrorHandler((error, _request, reply) => {
    // A name the backplane refuses (too long, ...) is the caller's mistake; anything else is Fastify's answer.
    if (error instanceof InvalidArgumentError) return reply.code(400).send({ error: error.message });
    return reply.send(error);
  });

  await fastify.listen({ port: options.port ?? 3000, host: options.host ?? '127.0.0.1' });
  const { address, port } = fastify.server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    nodeId: manager.nodeId,
    async close() {
      await hubs.close();
      await fastify.close();
      await manager.close();
    },
  };
}
