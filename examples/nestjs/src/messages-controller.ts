import { InvalidArgumentError } from '@backplane/core';
import { BadRequestException, Body, Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import { ChatHubHost } from './chat-hub-host.js';
import { parseMessageBody } from './message-body.js';

/** The app's own routes, next to the hub. */
@Controller('api')
export class MessagesController {
  readonly #host: ChatHubHost;

  constructor(@Inject(ChatHubHost) host: ChatHubHost) {
    this.#host = host;
  }

  @Get('health')
  health(): { status: string; node: string; connections: number } {
    const { manager, hubs } = this.#host;
    return {
      status: manager.link.up ? 'ok' : 'degraded',
      node: manager.nodeId,
      connections: hubs.connectionCount(),
    };
  }

  /** `{ message, user?, group? }`: sends `ReceiveMessage(user, message)` to everyone or to a group, on every node. */
  @Post('messages')
  @HttpCode(202)
  async send(@Body() input: unknown): Promise<{ accepted: true }> {
    const body = parseMessageBody(input);
    if (typeof body === 'string') throw new BadRequestException(body);
    const { chat } = this.#host;
    const target = body.group === undefined ? chat.all : chat.group(body.group);
    try {
      await target.send('ReceiveMessage', body.user, body.message);
    } catch (error) {
      // A name the backplane refuses (too long, ...) is the caller's mistake.
      if (error instanceof InvalidArgumentError)
        throw new BadRequestException(error.message, { cause: error });
      throw error;
    }
    return { accepted: true };
  }
}
