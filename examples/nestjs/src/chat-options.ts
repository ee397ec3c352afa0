import type { Driver, Logger } from '@backplane/core';

/** What the app module is given: how this node reaches the backplane. */
export interface ChatOptions {
  /** Moves messages between nodes: `createMemoryDriver()` within one process, `createRedisDriver({ url })` across processes. */
  driver: Driver;
  /** Signs connection tokens: give every node the same one (then no transport needs sticky sessions). @default random per process */
  tokenSecret?: string;
  /** This node's name in logs and connection ids. @default random */
  nodeId?: string;
  /** The backplane's and the hub server's logger. @default a console logger */
  logger?: Logger;
}

/** The injection token of {@link ChatOptions}. */
export const CHAT_OPTIONS = Symbol('ChatOptions');
