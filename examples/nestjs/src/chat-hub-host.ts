import { HubLifetimeManager } from '@backplane/core';
import { type HubContextClients, HubServer } from '@backplane/signalr';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ChatHub } from './chat-hub.js';
import { CHAT_OPTIONS, type ChatOptions } from './chat-options.js';

/**
 * Owns the backplane's lifetime manager and the hub server, and puts the `/chat` hub on Nest's HTTP server:
 * the hub serves /chat and /chat/negotiate, Nest's router everything else.
 */
@Injectable()
export class ChatHubHost implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  readonly manager: HubLifetimeManager;
  readonly hubs: HubServer;
  /** The hub's clients (`all`, `group(name)`, `user(id)`, ...), for controllers and jobs: sends reach every node. */
  readonly chat: HubContextClients;
  readonly #adapterHost: HttpAdapterHost;

  constructor(
    @Inject(CHAT_OPTIONS) options: ChatOptions,
    @Inject(HttpAdapterHost) adapterHost: HttpAdapterHost,
  ) {
    this.#adapterHost = adapterHost;
    // One lifetime manager per hub, with the same `hub` name on every node.
    this.manager = new HubLifetimeManager({
      driver: options.driver,
      hub: 'chat',
      ...(options.nodeId && { nodeId: options.nodeId }),
      ...(options.logger && { logger: options.logger }),
    });
    this.hubs = new HubServer({
      ...(options.tokenSecret && { tokenSecret: options.tokenSecret }),
      ...(options.logger && { logger: options.logger }),
    }).mapHub('/chat', ChatHub, this.manager);
    this.chat = this.hubs.hubContext('/chat');
  }

  /** Nest made its HTTP server (the Express app is its request handler) before this runs; it listens after. */
  async onModuleInit(): Promise<void> {
    await this.manager.start();
    this.hubs.attach(this.#adapterHost.httpAdapter.getHttpServer());
  }

  /** Before Nest closes its HTTP server: Close to every client (they may reconnect to another node), 503 to new ones. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.hubs.close();
  }

  /** After the HTTP server closed: leave the backplane. */
  async onApplicationShutdown(): Promise<void> {
    await this.manager.close();
  }
}
