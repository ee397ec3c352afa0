import 'reflect-metadata';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app-module.js';
import { ChatHubHost } from './chat-hub-host.js';
import type { ChatOptions } from './chat-options.js';

export interface ChatAppOptions extends ChatOptions {
  /** @default 3000 (0: a random free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Nest's own logs (modules, routes, errors). @default true */
  nestLogs?: boolean;
}

export interface ChatApp {
  /** `http://host:port`; the hub is at `${url}/chat`. */
  readonly url: string;
  readonly nodeId: string;
  /** Nest's shutdown: closes client connections (allowing them to reconnect elsewhere), the HTTP server, then the backplane. */
  close(): Promise<void>;
}

/** Starts one node: the Nest app and the `/chat` hub on Nest's HTTP server. */
export async function startChatApp(options: ChatAppOptions): Promise<ChatApp> {
  const { port = 3000, host = '127.0.0.1', nestLogs = true, ...chat } = options;
  const app = await NestFactory.create(AppModule.register(chat), nestLogs ? {} : { logger: false });
  await app.listen(port, host);
  const { address, port: bound } = (app.getHttpServer() as Server).address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${bound}`,
    nodeId: app.get(ChatHubHost).manager.nodeId,
    close: () => app.close(),
  };
}
