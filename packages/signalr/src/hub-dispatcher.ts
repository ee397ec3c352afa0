import {
  type CompletionMessage,
  HubError,
  type HubLifetimeManager,
  type HubMessage,
  type InvocationMessage,
  type Logger,
  MessageType,
  type StreamInvocationMessage,
} from '@backplane/core';
import { Hub, type HubClass } from './hub.js';
import { groupManager, hubCallerClients } from './hub-clients.js';
import type { ServerConnection } from './server-connection.js';

type HubMethod = (this: Hub, ...args: unknown[]) => unknown;

/** Finds a hub's callable methods: public methods of the class chain below `Hub`, case-insensitive. */
function hubMethods(hubClass: HubClass): Map<string, { name: string; fn: HubMethod }> {
  const methods = new Map<string, { name: string; fn: HubMethod }>();
  const reserved = new Set(['constructor', 'onconnected', 'ondisconnected']);
  for (
    let proto = hubClass.prototype as object;
    proto && proto !== Hub.prototype && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const key = name.toLowerCase();
      if (reserved.has(key) || name.startsWith('_') || methods.has(key)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (typeof descriptor?.value === 'function')
        methods.set(key, { name, fn: descriptor.value as HubMethod });
    }
  }
  return methods;
}

/**
 * Runs hub methods for incoming invocations and answers with completions, stream items and errors, as
 * the SignalR hub protocol specifies. Completions of client results go back to the lifetime manager.
 */
export class HubDispatcher {
  readonly #methods: ReturnType<typeof hubMethods>;
  readonly #streams = new Map<string, AbortController>();

  constructor(
    readonly hubClass: HubClass,
    readonly manager: HubLifetimeManager,
    readonly log: Logger,
    readonly detailedErrors: boolean,
  ) {
    this.#methods = hubMethods(hubClass);
  }

  /** A hub instance for one call. */
  hub(connection: ServerConnection): Hub {
    const hub = new this.hubClass();
    hub.clients = hubCallerClients(this.manager, connection.connectionId);
    hub.groups = groupManager(this.manager);
    hub.context = {
      connectionId: connection.connectionId,
      userIdentifier: connection.userIdentifier,
      claims: connection.claims,
      abort: () => connection.close(),
    };
    return hub;
  }

  dispatch(connection: ServerConnection, message: HubMessage): void {
    switch (message.type) {
      case MessageType.Invocation:
        void this.#invoke(connection, message);
        return;
      case MessageType.StreamInvocation:
        void this.#stream(connection, message);
        return;
      case MessageType.CancelInvocation:
        this.#streams.get(`${connection.connectionId}:${message.invocationId}`)?.abort();
        return;
      case MessageType.Completion:
        this.#completion(connection, message);
        return;
      default:
        return; // Ping, Ack, Sequence and future types need nothing here
    }
  }

  /** Stops the streams of a connection that ended. */
  connectionClosed(connection: ServerConnection): void {
    const prefix = `${connection.connectionId}:`;
    for (const [key, controller] of this.#streams) if (key.startsWith(prefix)) controller.abort();
  }

  async #invoke(connection: ServerConnection, message: InvocationMessage): Promise<void> {
    const { invocationId } = message;
    try {
      const result = await this.#call(connection, message.target, message.arguments);
      if (invocationId !== undefined)
        connection.send({
          type: MessageType.Completion,
          invocationId,
          ...(result !== undefined && { result }),
        });
    } catch (error) {
      this.log.debug('Hub method failed', {
        target: message.target,
        connectionId: connection.connectionId,
        error,
      });
      if (invocationId !== undefined)
        connection.send({
          type: MessageType.Completion,
          invocationId,
          error: this.#errorMessage(message.target, error),
        });
    }
  }

  async #stream(connection: ServerConnection, message: StreamInvocationMessage): Promise<void> {
    const { invocationId } = message;
    const key = `${connection.connectionId}:${invocationId}`;
    const controller = new AbortController();
    this.#streams.set(key, controller);
    try {
      const source = await this.#call(connection, message.target, message.arguments, controller.signal);
      if (!isAsyncIterable(source))
        throw new HubError(`The method '${message.target}' does not return a stream.`);
      const iterator = source[Symbol.asyncIterator]();
      controller.signal.addEventListener('abort', () => void iterator.return?.(), { once: true });
      for (;;) {
        const next = await iterator.next();
        if (next.done || controller.signal.aborted) break;
        connection.send({ type: MessageType.StreamItem, invocationId, item: next.value });
      }
      connection.send({ type: MessageType.Completion, invocationId });
    } catch (error) {
      connection.send({
        type: MessageType.Completion,
        invocationId,
        error: this.#errorMessage(message.target, error),
      });
    } finally {
      this.#streams.delete(key);
    }
  }

  #completion(connection: ServerConnection, message: CompletionMessage): void {
    if (!this.manager.hasPendingResult(message.invocationId)) {
      this.log.debug('Completion for an unknown invocation ignored', { invocationId: message.invocationId });
      return;
    }
    this.manager.setConnectionResult(connection.connectionId, message).catch((error: unknown) => {
      this.log.warn('Client result refused', { connectionId: connection.connectionId, error });
    });
  }

  async #call(
    connection: ServerConnection,
    target: string,
    args: readonly unknown[],
    signal?: AbortSignal,
  ): Promise<unknown> {
    const method = this.#methods.get(target.toLowerCase());
    if (!method) throw new HubError(`Unknown hub method '${target}'`);
    const expected = method.fn.length;
    if (args.length !== expected && !(signal && args.length === expected - 1)) {
      throw new HubError(
        `Failed to invoke '${target}' due to an error on the server. InvalidDataException: Invocation provides ${args.length} argument(s) but target expects ${expected}.`,
      );
    }
    const hub = this.hub(connection);
    return signal && args.length === expected - 1
      ? method.fn.call(hub, ...args, signal)
      : method.fn.call(hub, ...args);
  }

  #errorMessage(target: string, error: unknown): string {
    if (error instanceof HubError) return error.message;
    const detail = this.detailedErrors && error instanceof Error ? ` ${error.name}: ${error.message}` : '';
    return `An unexpected error occurred invoking '${target}' on the server.${detail}`;
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
