import { type DynamicModule, Module } from '@nestjs/common';
import { ChatHubHost } from './chat-hub-host.js';
import { CHAT_OPTIONS, type ChatOptions } from './chat-options.js';
import { MessagesController } from './messages-controller.js';

@Module({})
export class AppModule {
  /** The app with the `/chat` hub on `options.driver`. */
  static register(options: ChatOptions): DynamicModule {
    return {
      module: AppModule,
      controllers: [MessagesController],
      providers: [{ provide: CHAT_OPTIONS, useValue: options }, ChatHubHost],
    };
  }
}
