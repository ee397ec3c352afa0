import { HubError, type HubLifetimeManager, type Logger } from '@backplane/core';
import {
  type CompletionMessage,
  type HubMessage,
  type InvocationMessage,
  MessageType,
  type StreamInvocationMessage,
} from '@backplane/hub-protocol';
import { asError, guardPromise } from './guard.js';
import type { Hub, HubCallerContext, HubClass } from './hub.js';
import { type GroupManager, groupManager, hubCallerClients } from './hub-clients.js';
import type { HubConnectionContext } from './hub-connection-context.js';
import { discoverHubMethods, type HubMethod, isAsyncIterable } from './hub-methods.js';
import type { HubServerStats } from './hub-server-stats.js';
import type { Claims } from './jwt.js';

/** Stream items sent before yielding to the event loop, so a busy stream cannot starve other work. */
const STREAM_ITEMS_PER_TURN = 64;

export interface DispatcherSettings {
  readonly detailedErrors: boolean;
  /** Hub method calls a client may have running at once (streams are not counted). */
  readonly maximumParallelInvocationsPerClient: number;
  /** Calls of a client that may wait for a slot; past that its connection stops reading (backpressure). */
  readonly maximumQueuedInvocationsPerClient: number;
  /** Counts the pauses (shared by every hub of a server). */
  readonly stats: HubServerStats;
}

/**
 * Per-connection dispatch state. The maps and the abort controller are made on first use: most connections
 * never stream, never touch `context.items` and never read `connectionAborted`, and an idle connection's
 * memory is what scenario 5 of the benchmarks measures.
 */
export interface ConnectionState {
  /** Made on the first invocation. */
  limiter: Limiter | undefined;
  streams: Map<string, AbortController> | undefined;
  items: Map<unknown, unknown> | undefined;
  aborted: AbortController | undefined;
  closed: boolean;
}

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
 */
export class HubDispatcher {
  readonly #methods: ReadonlyMap<string, HubMethod>;
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
  }

  /** A hub instance for one call or lifecycle event. */
  hub(connection: HubConnectionContext): Hub {
    const state = this.#state(connection);
    const hub = new this.hubClass();
    hub.clients = hubCallerClients(this.manager, connection.connectionId);
    hub.groups = this.#groups;
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
      case MessageType.StreamItem:
        this.log.debug('Client-to-server streams are not supported; item ignored', {
          connectionId: connection.connectionId,
        });
        return;
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
  }

  /** Drops a connection's state (after its `onDisconnected`, which still sees `context.items`). */
  forget(connection: HubConnectionContext): void {
    connection.dispatchState = undefined;
  }

  /** The connection's dispatch state, kept on the connection itself (no map entry per connection). */
  #state(connection: HubConnectionContext): ConnectionState {
    connection.dispatchState ??= {
      limiter: undefined,
      streams: undefined,
      items: undefined,
      aborted: undefined,
      closed: connection.closed,
    };
    return connection.dispatchState;
  }

  #limiter(connection: HubConnectionContext): Limiter {
    const state = this.#state(connection);
    state.limiter ??= new Limiter(
      connection,
      this.settings.maximumParallelInvocationsPerClient,
      this.settings.maximumQueuedInvocationsPerClient,
    );
    return state.limiter;
  }

  /**
   * The method a call targets, or the error completion SignalR would answer, checked before anything runs:
   * the method exists, the argument count, the invocation kind (a stream invocation for `async *` methods
   * only, and only for them), and no client-to-server streams (no method takes one).
   */
  #bind(
    message: InvocationMessage | StreamInvocationMessage,
  ): { method: HubMethod; error?: undefined } | { method?: undefined; error: string } {
    const { target, arguments: args } = message;
    const streaming = message.type === MessageType.StreamInvocation;
    const method = this.#methods.get(target.toLowerCase());
    const failed = `Failed to invoke '${target}' due to an error on the server.`;
    if (!method) return { error: `${failed} HubException: Method does not exist.` };
    const expected = method.arity;
    const withSignal = method.streaming && args.length === expected - 1;
    if (args.length !== expected && !withSignal) {
      const detail = `InvalidDataException: Invocation provides ${args.length} argument(s) but target expects ${expected}.`;
      return { error: this.settings.detailedErrors ? `${failed} ${detail}` : failed };
    }
    if (method.streaming && !streaming)
      return {
        error: `The client attempted to invoke the streaming '${target}' method with a non-streaming invocation.`,
      };
    if (!method.streaming && streaming)
      return {
        error: `The client attempted to invoke the non-streaming '${target}' method with a streaming invocation.`,
      };
    const uploads = message.streamIds?.length ?? 0;
    if (uploads > 0)
      return {
        error: this.#invokeError(
          target,
          new HubError(`Client sent ${uploads} stream(s), Hub method expects 0.`),
        ),
      };
    return { method };
  }

  #invocation(connection: HubConnectionContext, message: InvocationMessage): void {
    const { invocationId, target } = message;
    const bound = this.#bind(message);
    if (!bound.method) {
      this.log.debug('Invocation refused', {
        connectionId: connection.connectionId,
        target,
        error: bound.error,
      });
      if (invocationId) connection.send({ type: MessageType.Completion, invocationId, error: bound.error });
      return;
    }
    const { method } = bound;
    const { full, done } = this.#limiter(connection).run(async () => {
      if (connection.closed) return;
      let result: unknown;
      try {
        result = await method.fn.apply(this.hub(connection), [...message.arguments]);
      } catch (error) {
        this.log.debug('Hub method failed', { target, connectionId: connection.connectionId, error });
        if (invocationId)
          connection.send({
            type: MessageType.Completion,
            invocationId,
            error: this.#invokeError(target, error),
          });
        return;
      }
      if (!invocationId) return;
      if (isAsyncIterable(result)) {
        connection.send({
          type: MessageType.Completion,
          invocationId,
          error: `The client attempted to invoke the streaming '${target}' method with a non-streaming invocation.`,
        });
        return;
      }
      try {
        connection.send({
          type: MessageType.Completion,
          invocationId,
          ...(result !== undefined && { result }),
        });
      } catch (error) {
        this.log.warn('Hub method result could not be serialized', { target, error });
        connection.send({
          type: MessageType.Completion,
          invocationId,
          error: this.#invokeError(target, error),
        });
      }
    });
    guardPromise(this.log, 'Hub invocation', done, (error) => connection.close(asError(error)));
    if (full) {
      this.settings.stats.receivePauses++;
      this.log.debug('Invocation queue full; reading paused', { connectionId: connection.connectionId });
      connection.pauseReceiving();
    }
  }

  #streamInvocation(connection: HubConnectionContext, message: StreamInvocationMessage): void {
    const { invocationId } = message;
    const bound = this.#bind(message);
    if (!bound.method) {
      connection.send({ type: MessageType.Completion, invocationId, error: bound.error });
      return;
    }
    const state = this.#state(connection);
    state.streams ??= new Map();
    const streams = state.streams;
    if (streams.has(invocationId)) {
      connection.send({
        type: MessageType.Completion,
        invocationId,
        error: `Invocation ID '${invocationId}' is already in use.`,
      });
      return;
    }
    const controller = new AbortController();
    streams.set(invocationId, controller);
    const task = this.#stream(connection, bound.method, message, controller).finally(() => {
      if (streams.get(invocationId) === controller) streams.delete(invocationId);
    });
    guardPromise(this.log, 'Hub stream', task, (error) => connection.close(asError(error)));
  }

  async #stream(
    connection: HubConnectionContext,
    method: HubMethod,
    message: StreamInvocationMessage,
    controller: AbortController,
  ): Promise<void> {
    const { invocationId, target } = message;
    const { signal } = controller;
    let error: string | undefined;
    let iterator: AsyncIterator<unknown> | undefined;
    try {
      let source: unknown;
      try {
        const args =
          message.arguments.length === method.arity - 1 ? [...message.arguments, signal] : message.arguments;
        source = await method.fn.apply(this.hub(connection), [...args]);
      } catch (e) {
        this.log.debug('Hub stream method failed', {
          target,
          connectionId: connection.connectionId,
          error: e,
        });
        error = this.#invokeError(target, e);
        return;
      }
      if (!isAsyncIterable(source)) {
        error = `The client attempted to invoke the non-streaming '${target}' method with a streaming invocation.`;
        return;
      }
      iterator = source[Symbol.asyncIterator]();
      const aborted = new Promise<'aborted'>((resolve) => {
        if (signal.aborted) resolve('aborted');
        else signal.addEventListener('abort', () => resolve('aborted'), { once: true });
      });
      for (let sent = 1; ; sent++) {
        const next = await Promise.race([iterator.next(), aborted]);
        if (next === 'aborted' || next.done || connection.closed) break;
        connection.send({ type: MessageType.StreamItem, invocationId, item: next.value });
        if (sent % STREAM_ITEMS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (e) {
      if (!signal.aborted) {
        this.log.debug('Hub stream failed', { target, connectionId: connection.connectionId, error: e });
        error = this.#errorText('An error occurred on the server while streaming results.', e);
      }
    } finally {
      if (signal.aborted || connection.closed) {
        // Stop the source without waiting: it may be blocked on something that never comes.
        iterator?.return?.()?.catch(() => {});
      }
      connection.send({ type: MessageType.Completion, invocationId, ...(error !== undefined && { error }) });
    }
  }

  #completion(connection: HubConnectionContext, message: CompletionMessage): void {
    if (!this.manager.hasPendingResult(message.invocationId)) {
      this.log.debug('Completion for an unknown invocation ignored', { invocationId: message.invocationId });
      return;
    }
    this.manager.setConnectionResult(connection.connectionId, message).catch((error: unknown) => {
      this.log.warn('Client result refused', { connectionId: connection.connectionId, error });
    });
  }

  #invokeError(target: string, error: unknown): string {
    return this.#errorText(`An unexpected error occurred invoking '${target}' on the server.`, error);
  }

  /** SignalR's `ErrorMessageHelper`: details for `HubError` (named HubException, as clients expect) or when enabled. */
  #errorText(message: string, error: unknown): string {
    if (error instanceof HubError) return `${message} HubException: ${error.message}`;
    if (!this.settings.detailedErrors) return message;
    return error instanceof Error
      ? `${message} ${error.name}: ${error.message}`
      : `${message} ${String(error)}`;
  }
}

/**
 * One connection's calls: at most `limit` at once, up to `queueLimit` more waiting in arrival order. The
 * dispatcher pauses the connection's reading when the queue is full; the limiter resumes it once the queue
 * is down to half (so a flood is read in batches, not one call per pause).
 */
class Limiter {
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(
    readonly connection: HubConnectionContext,
    readonly limit: number,
    readonly queueLimit: number,
  ) {}

  /** Runs `task` now or once a slot frees: `done` settles with it; `full` says whether the queue is now full. */
  run(task: () => Promise<void>): { full: boolean; done: Promise<void> } {
    const done = this.#run(task);
    return { full: this.#active >= this.limit && this.#waiting.length >= this.queueLimit, done };
  }

  async #run(task: () => Promise<void>): Promise<void> {
    if (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    try {
      await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
      if (this.#waiting.length <= this.queueLimit >> 1) this.connection.resumeReceiving();
    }
  }
}

/** A hub instance's `context`: a class, so a call costs one small object (members live on the prototype). */
class CallerContext implements HubCallerContext {
  readonly #connection: HubConnectionContext;
  readonly #state: ConnectionState;
  constructor(connection: HubConnectionContext, state: ConnectionState) {
    this.#connection = connection;
    this.#state = state;
  }
  get connectionId(): string {
    return this.#connection.connectionId;
  }
  get userIdentifier(): string | undefined {
    return this.#connection.userIdentifier;
  }
  get claims(): Claims {
    return this.#connection.claims;
  }
  get items(): Map<unknown, unknown> {
    this.#state.items ??= new Map();
    return this.#state.items;
  }
  get connectionAborted(): AbortSignal {
    const state = this.#state;
    if (!state.aborted) {
      state.aborted = new AbortController();
      if (state.closed) state.aborted.abort();
    }
    return state.aborted.signal;
  }
  abort(): void {
    this.#connection.close();
  }
}
