import type { HubLifetimeManager, Logger } from '@backplane/core';
import {
  type CompletionMessage,
  type HubMessage,
  type InvocationMessage,
  MessageType,
  type StreamInvocationMessage,
} from '@backplane/hub-protocol';
import type { ClientStream } from './client-stream.js';
import { ClientUploads, NO_UPLOADS } from './client-uploads.js';
import { dispatchState } from './dispatch-state.js';
import type { DispatcherSettings } from './dispatcher-settings.js';
import { ClientStreamError } from './errors.js';
import { asError, guardPromise } from './guard.js';
import type { Hub, HubClass } from './hub.js';
import { CallerContext } from './hub-caller-context.js';
import { type GroupManager, groupManager, hubCallerClients } from './hub-clients.js';
import type { HubConnectionContext } from './hub-connection-context.js';
import { connectedChain, disconnectedChain, hubFilters, type LifetimeChain } from './hub-filter.js';
import { discoverHubMethods, type HubMethod } from './hub-methods.js';
import { bindInvocation } from './invocation-binding.js';
import { runInvocation } from './invocation-completion.js';
import { InvocationLimiter } from './invocation-limiter.js';
import { MethodInvoker } from './method-invoker.js';
import { methodPlans } from './method-plans.js';
import { runStream } from './stream-runner.js';
import { ReadHold } from './transport-sender.js';

/**
 * Runs hub methods for a connection's messages and answers as ASP.NET Core SignalR does: completions with
 * results, the same error strings (detailed only when enabled, except `HubError`s), stream items and the
 * final completion of streams, cancellation. Invocations of one client run one at a time by default
 * (SignalR's `MaximumParallelInvocationsPerClient = 1`, so a client's calls keep their order); completions
 * of client results and cancellations are handled at once, even while a call runs. Up to
 * `maximumQueuedInvocationsPerClient` calls wait for a slot; when that many wait, the connection stops
 * reading (SignalR stops reading as soon as the slots are taken, which makes a client result asked of the
 * caller during its own call wait forever; the queue lets such a completion through unless the client has
 * flooded that many calls ahead of it) and reads again once half of them have run.
 *
 * This class routes messages and holds per-connection state; checking a call (`invocation-binding`), running
 * it (`method-invoker`: validation, authorization, filters), answering it (`invocation-completion`,
 * `stream-runner`), the queue (`invocation-limiter`) and client-to-server streams (`client-uploads`) are
 * their own modules.
 */
export class HubDispatcher {
  readonly #methods: ReadonlyMap<string, HubMethod>;
  readonly #invoker: MethodInvoker;
  readonly #connected: LifetimeChain | undefined;
  readonly #disconnected: LifetimeChain | undefined;
  /** Stateless: one for every hub instance. */
  readonly #groups: GroupManager;

  constructor(
    readonly hubClass: HubClass,
    readonly manager: HubLifetimeManager,
    readonly log: Logger,
    readonly settings: DispatcherSettings,
  ) {
    this.#methods = discoverHubMethods(hubClass);
    this.#groups = groupManager(manager);
    const name = hubClass.name || 'the hub class';
    const filters = hubFilters(settings.filters, hubClass.filters, name);
    this.#connected = connectedChain(filters);
    this.#disconnected = disconnectedChain(filters);
    const plans = methodPlans(hubClass, this.#methods, filters, name);
    this.#invoker = new MethodInvoker(plans, settings, log, (connection) => this.hub(connection));
  }

  /** Runs the hub's `onConnected`, through the filters. */
  async connected(connection: HubConnectionContext): Promise<void> {
    const hub = this.hub(connection);
    if (this.#connected) await this.#connected({ hub, context: hub.context }, undefined);
    else await hub.onConnected();
  }

  /** Runs the hub's `onDisconnected`, through the filters. */
  async disconnected(connection: HubConnectionContext, error: Error | undefined): Promise<void> {
    const hub = this.hub(connection);
    if (this.#disconnected) await this.#disconnected({ hub, context: hub.context }, error);
    else await hub.onDisconnected(error);
  }

  /** A hub instance for one call or lifecycle event. */
  hub(connection: HubConnectionContext): Hub {
    const state = dispatchState(connection);
    const hub = new this.hubClass();
    hub.clients = hubCallerClients(this.manager, connection.connectionId);
    hub.groups = this.#groups;
    hub.presence = this.manager.presence;
    hub.context = new CallerContext(connection, state);
    return hub;
  }

  dispatch(connection: HubConnectionContext, message: HubMessage): void {
    switch (message.type) {
      case MessageType.Invocation:
        this.#invocation(connection, message);
        return;
      case MessageType.StreamInvocation:
        this.#streamInvocation(connection, message);
        return;
      case MessageType.CancelInvocation: {
        const stream = connection.dispatchState?.streams?.get(message.invocationId);
        if (stream) stream.abort();
        else this.log.debug('Cancel for no running stream ignored', { invocationId: message.invocationId });
        return;
      }
      case MessageType.Completion:
        this.#completion(connection, message);
        return;
      case MessageType.StreamItem: {
        const stream = connection.dispatchState?.uploads?.get(message.invocationId);
        if (stream) stream.push(message.item);
        else
          this.log.debug('Item for no open client stream ignored', {
            connectionId: connection.connectionId,
            streamId: message.invocationId,
          });
        return;
      }
      default:
        return; // Ping, Ack, Sequence are the connection's; future types are ignored
    }
  }

  /** The connection ended: aborts `context.connectionAborted` and its streams. */
  connectionClosed(connection: HubConnectionContext): void {
    const state = connection.dispatchState;
    if (!state) return;
    state.closed = true;
    state.aborted?.abort();
    for (const controller of state.streams?.values() ?? []) controller.abort();
    state.uploads?.closeAll();
  }

  /** Drops a connection's state (after its `onDisconnected`, which still sees `context.items`). */
  forget(connection: HubConnectionContext): void {
    connection.dispatchState = undefined;
  }

  #limiter(connection: HubConnectionContext): InvocationLimiter {
    const state = dispatchState(connection);
    state.limiter ??= new InvocationLimiter(
      connection,
      this.settings.maximumParallelInvocationsPerClient,
      this.settings.maximumQueuedInvocationsPerClient,
    );
    return state.limiter;
  }

  /**
   * Opens the client-to-server streams a call names (none for most calls), or the error completion when one
   * of its ids is already open.
   */
  #openUploads(
    connection: HubConnectionContext,
    message: InvocationMessage | StreamInvocationMessage,
  ): readonly ClientStream[] | string {
    const ids = message.streamIds;
    if (!ids || ids.length === 0) return NO_UPLOADS;
    const state = dispatchState(connection);
    state.uploads ??= new ClientUploads(connection, this.settings.streamBufferCapacity, this.settings.stats);
    return state.uploads.open(ids);
  }

  #invocation(connection: HubConnectionContext, message: InvocationMessage): void {
    const { invocationId, target } = message;
    const bound = bindInvocation(this.#methods, message, this.settings.detailedErrors);
    const uploads = bound.method ? this.#openUploads(connection, message) : NO_UPLOADS;
    const error = bound.error ?? (typeof uploads === 'string' ? uploads : undefined);
    if (!bound.method || typeof uploads === 'string') {
      this.log.debug('Invocation refused', { connectionId: connection.connectionId, target, error });
      this.settings.meter.refused(this.#methods.get(target.toLowerCase()), false);
      if (invocationId) connection.send({ type: MessageType.Completion, invocationId, error });
      return;
    }
    const { method } = bound;
    if (uploads.length > 0) {
      // A call reading client streams is not queued behind the client's other calls (nor counted), as in
      // SignalR: it may run as long as the client sends.
      const task = this.#timedInvoke(connection, method, message, uploads);
      guardPromise(this.log, 'Hub invocation', task, (e) => connection.close(asError(e)));
      return;
    }
    const { full, done } = this.#limiter(connection).run(() =>
      this.#timedInvoke(connection, method, message, NO_UPLOADS),
    );
    guardPromise(this.log, 'Hub invocation', done, (error) => connection.close(asError(error)));
    if (full) {
      this.settings.stats.receivePauses++;
      this.log.debug('Invocation queue full; reading paused', { connectionId: connection.connectionId });
      connection.pauseReceiving(ReadHold.Invocations);
    }
  }

  /** {@link runInvocation}, timed while something subscribes to the measurements (nothing extra otherwise). */
  #timedInvoke(
    connection: HubConnectionContext,
    method: HubMethod,
    message: InvocationMessage,
    uploads: readonly ClientStream[],
  ): Promise<unknown> {
    const { meter } = this.settings;
    const started = meter.start();
    return meter.track(
      started,
      method,
      false,
      runInvocation(this.#invoker, connection, method, message, uploads),
    );
  }

  #streamInvocation(connection: HubConnectionContext, message: StreamInvocationMessage): void {
    const { invocationId } = message;
    const bound = bindInvocation(this.#methods, message, this.settings.detailedErrors);
    if (!bound.method) {
      this.settings.meter.refused(this.#methods.get(message.target.toLowerCase()), true);
      connection.send({ type: MessageType.Completion, invocationId, error: bound.error });
      return;
    }
    const state = dispatchState(connection);
    state.streams ??= new Map();
    const streams = state.streams;
    if (streams.has(invocationId)) {
      this.settings.meter.refused(bound.method, true);
      connection.send({
        type: MessageType.Completion,
        invocationId,
        error: `Invocation ID '${invocationId}' is already in use.`,
      });
      return;
    }
    const uploads = this.#openUploads(connection, message);
    if (typeof uploads === 'string') {
      this.settings.meter.refused(bound.method, true);
      connection.send({ type: MessageType.Completion, invocationId, error: uploads });
      return;
    }
    const controller = new AbortController();
    streams.set(invocationId, controller);
    const { meter } = this.settings;
    const started = meter.start();
    const stream = runStream(this.#invoker, connection, bound.method, message, uploads, controller);
    const task = meter.track(started, bound.method, true, stream).finally(() => {
      if (streams.get(invocationId) === controller) streams.delete(invocationId);
    });
    guardPromise(this.log, 'Hub stream', task, (error) => connection.close(asError(error)));
  }

  #completion(connection: HubConnectionContext, message: CompletionMessage): void {
    const { invocationId, error } = message;
    // The end of a client-to-server stream (its id is the stream's), else a client result.
    const stream = connection.dispatchState?.uploads?.take(invocationId);
    if (stream) {
      stream.complete(
        error === undefined ? undefined : new ClientStreamError(invocationId, 'client-error', error),
      );
      return;
    }
    if (!this.manager.hasPendingResult(message.invocationId)) {
      this.log.debug('Completion for an unknown invocation ignored', { invocationId: message.invocationId });
      return;
    }
    this.manager.setConnectionResult(connection.connectionId, message).catch((error: unknown) => {
      this.log.warn('Client result refused', { connectionId: connection.connectionId, error });
    });
  }
}
