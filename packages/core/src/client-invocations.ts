import { MessageType } from '@backplane/hub-protocol';
import type { Channels } from './channels.js';
import {
  type ClientResults,
  completionFromBody,
  completionToBody,
  settleCompletion,
} from './client-results.js';
import type { CompletionBody, InvocationBody } from './envelope.js';
import { ConnectionDisconnectedError, ConnectionNotFoundError, HubError } from './errors.js';
import { createInvocationId, ownerOfConnection } from './ids.js';
import type { LocalConnections } from './local-connections.js';
import type { Logger } from './logger.js';
import type { InvokeOptions } from './manager-options.js';
import type { Publisher } from './publisher.js';
import { requireName } from './validate.js';

export interface ClientInvocationsOptions {
  readonly serverId: string;
  readonly channels: Channels;
  readonly connections: LocalConnections;
  readonly publisher: Pick<Publisher, 'serialize' | 'publish'>;
  /** The client results in flight, on this server and forwarded for others. */
  readonly results: ClientResults;
  readonly log: Logger;
  /** Whether a connection of another server is known to exist nowhere (see `Presence.isConnectionGone`). */
  readonly isConnectionGone: (connectionId: string) => boolean;
  /** Starts the manager if it is not ready yet (`undefined` when it is). */
  readonly ensureStarted: () => Promise<void> | undefined;
}

/**
 * Client results across servers: invoking a method on a client of any server and waiting for its answer,
 * and, on the server holding the connection, forwarding the answer (or its absence) to the caller's server.
 */
export class ClientInvocations {
  readonly #options: ClientInvocationsOptions;

  constructor(options: ClientInvocationsOptions) {
    this.#options = options;
  }

  /** See `HubLifetimeManager.invokeConnection`. */
  async invoke<T>(
    connectionId: string,
    method: string,
    args: readonly unknown[],
    options: InvokeOptions<T>,
  ): Promise<T> {
    const { serverId, channels, connections, publisher, results } = this.#options;
    requireName(connectionId, 'Connection id');
    const starting = this.#options.ensureStarted();
    if (starting) await starting;
    const local = connections.get(connectionId);
    const owner = local ? serverId : ownerOfConnection(connectionId);
    // Foreign ids name no server; an id of ours that we do not hold has left; a gone server holds nothing.
    if (
      owner === undefined ||
      (!local && (owner === serverId || this.#options.isConnectionGone(connectionId)))
    )
      throw new ConnectionNotFoundError(connectionId);
    const invocationId = createInvocationId();
    const { signal, resultType } = options;
    signal?.throwIfAborted();

    const result = new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        results.remove(invocationId);
        reject(new HubError('Invocation canceled by the server.', { cause: signal?.reason }));
      };
      const settle = (fn: () => void) => {
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      results.add(invocationId, {
        connectionId,
        complete: (completion) => settle(() => settleCompletion(completion, resultType, resolve, reject)),
        fail: (error) => settle(() => reject(error)),
        disconnected: () => settle(() => reject(new ConnectionDisconnectedError(connectionId))),
      });
    });

    // The call may fail (close, a fast 'not-found' reply) while this method still awaits its publish,
    // before the caller holds the promise: that must not count as an unhandled rejection.
    result.catch(() => {});

    if (local) {
      const frame = local.connection.protocol.writeMessage({
        type: MessageType.Invocation,
        invocationId,
        target: method,
        arguments: args,
      });
      connections.write(local.connection, frame);
      return result;
    }
    const payloads = publisher.serialize(method, args, invocationId);
    const body: InvocationBody = {
      kind: 'invocation',
      payloads,
      connectionIds: [connectionId],
      invocationId,
    };
    let receivers: number | undefined;
    try {
      receivers = await publisher.publish(channels.server(owner), body);
    } catch (error) {
      results.remove(invocationId);
      throw error;
    }
    if (receivers === 0) {
      results.remove(invocationId);
      throw new ConnectionNotFoundError(connectionId);
    }
    return result;
  }

  /** A server invoked a connection this server does not hold: tell it so. */
  notFound(origin: string, invocationId: string, connectionId: string): void {
    void this.#sendCompletion(origin, {
      kind: 'completion',
      invocationId,
      connectionId,
      outcome: 'not-found',
    });
  }

  /** A server invoked a connection this server holds: forward the client's answer, or its leaving, to it. */
  forwardResult(origin: string, invocationId: string, connectionId: string): void {
    this.#options.results.add(invocationId, {
      connectionId,
      complete: (completion) => void this.#sendCompletion(origin, completionToBody(connectionId, completion)),
      fail: () => {},
      disconnected: () =>
        void this.#sendCompletion(origin, {
          kind: 'completion',
          invocationId,
          connectionId,
          outcome: 'disconnected',
        }),
    });
  }

  /** A completion forwarded by the server holding the connection this server invoked. */
  receiveCompletion(body: CompletionBody): void {
    const outcome = completionFromBody(body);
    try {
      if (outcome instanceof Error) this.#options.results.fail(body.connectionId, body.invocationId, outcome);
      else this.#options.results.complete(body.connectionId, outcome);
    } catch (error) {
      this.#options.log.warn('Dropped a client result from the wrong connection', {
        invocationId: body.invocationId,
        error,
      });
    }
  }

  async #sendCompletion(origin: string, body: CompletionBody): Promise<void> {
    try {
      await this.#options.publisher.publish(this.#options.channels.server(origin), body);
    } catch (error) {
      this.#options.log.error('Could not forward a client result', {
        origin,
        invocationId: body.invocationId,
        error,
      });
    }
  }
}
