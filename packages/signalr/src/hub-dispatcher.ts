import { HubError, type HubLifetimeManager, InvalidArgumentError, type Logger } from '@backplane/core';
import {
  type CompletionMessage,
  type HubMessage,
  type InvocationMessage,
  MessageType,
  type StreamInvocationMessage,
} from '@backplane/hub-protocol';
import { type AuthorizationRule, authorizationRule, isAuthorized } from './authorization.js';
import { ClientStream, type StreamFlow } from './client-stream.js';
import { ClientStreamError } from './errors.js';
import { asError, guardPromise } from './guard.js';
import type { HubHttpContext } from './http-request.js';
import type { Hub, HubCallerContext, HubClass } from './hub.js';
import { type GroupManager, groupManager, hubCallerClients } from './hub-clients.js';
import { type HubConnectionContext, ReadHold, type TransportKind } from './hub-connection-context.js';
import {
  connectedChain,
  disconnectedChain,
  type HubFilter,
  type HubInvocationContext,
  hubFilters,
  type InvocationChain,
  invocationChain,
  type LifetimeChain,
} from './hub-filter.js';
import { discoverHubMethods, type HubMethod, isAsyncIterable } from './hub-methods.js';
import type { HubServerStats } from './hub-server-stats.js';
import type { InvocationMeter, InvocationOutcome } from './invocation-meter.js';
import type { InvocationTracing } from './invocation-tracing.js';
import type { Claims } from './jwt.js';
import { type ArgumentSchemas, argumentSchemas, bindArguments } from './standard-schema.js';

const NO_UPLOADS: readonly ClientStream[] = [];

/** Stream items sent before yielding to the event loop, so a busy stream cannot starve other work. */
const STREAM_ITEMS_PER_TURN = 64;

export interface DispatcherSettings {
  readonly detailedErrors: boolean;
  /** Hub method calls a client may have running at once (streams are not counted). */
  readonly maximumParallelInvocationsPerClient: number;
  /** Calls of a client that may wait for a slot; past that its connection stops reading (backpressure). */
  readonly maximumQueuedInvocationsPerClient: number;
  /** Items a client-to-server stream holds before the connection stops reading (backpressure). */
  readonly streamBufferCapacity: number;
  /** Counts the pauses (shared by every hub of a server). */
  readonly stats: HubServerStats;
  /** Filters of every hub (`HubServerOptions.filters`), before the hub class's own. */
  readonly filters: readonly HubFilter[];
  /** Set when callers are authenticated (a verified JWT): what `true` in `methodAuthorization` asks. */
  readonly jwtSecret: string | undefined;
  /** Times the calls for `hubServer.measurements$` (only while something subscribes). */
  readonly meter: InvocationMeter;
  /** Where tracing is on: a span around each method call. */
  readonly tracing?: InvocationTracing | undefined;
}

/** What runs around a method beyond the call itself; methods without any have no plan. */
interface MethodPlan {
  /** Validators of the client's arguments (`schemas`). */
  readonly schemas: ArgumentSchemas | undefined;
  /** Who may call it (`methodAuthorization`). */
  readonly policy: AuthorizationRule | undefined;
  /** The filters around it. */
  readonly chain: InvocationChain | undefined;
}

/** A call refused before it ran: `message` is the whole error completion. */
class Refusal extends Error {
  constructor(
    message: string,
    readonly outcome: 'invalid' | 'unauthorized',
  ) {
    super(message);
  }
}

/** What the log says about arguments that did not bind: the refused one and why, or the validator's error. */
type BindingFailureLog = { argument: number; issues: string[] } | { error: unknown };

/**
 * Per-connection dispatch state. The maps and the abort controller are made on first use: most connections
 * never stream, never touch `context.items` and never read `connectionAborted`, and an idle connection's
 * memory is what scenario 5 of the benchmarks measures.
 */
export interface ConnectionState {
  /** Made on the first invocation. */
  limiter: Limiter | undefined;
  streams: Map<string, AbortController> | undefined;
  /** Client-to-server streams being read by a running method; made on the first one. */
  uploads: Uploads | undefined;
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
  readonly #plans = new Map<HubMethod, MethodPlan>();
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
    const policies = this.#byMethod(hubClass.methodAuthorization, `${name}.methodAuthorization`);
    const declaredSchemas = this.#byMethod(hubClass.schemas, `${name}.schemas`);
    for (const method of this.#methods.values()) {
      const schemas = argumentSchemas(
        declaredSchemas.get(method),
        method.streaming ? Math.max(0, method.arity - 1) : method.arity,
        `${name}.schemas.${method.name}`,
      );
      const policy = authorizationRule(policies.get(method), `${name}.methodAuthorization.${method.name}`);
      const chain = invocationChain(filters, method.fn);
      if (schemas || policy || chain) this.#plans.set(method, { schemas, policy, chain });
    }
  }

  /**
   * A static declaration by method name (`methodAuthorization`, `schemas`) as a map by method; throws when
   * a name is no method clients can call (a typo would otherwise leave the method open or unchecked).
   */
  #byMethod(declared: unknown, where: string): Map<HubMethod, unknown> {
    const byMethod = new Map<HubMethod, unknown>();
    if (declared === undefined) return byMethod;
    if (typeof declared !== 'object' || declared === null)
      throw new InvalidArgumentError(`${where} must be an object keyed by method name.`);
    for (const [key, value] of Object.entries(declared)) {
      const method = this.#methods.get(key.toLowerCase());
      if (!method)
        throw new InvalidArgumentError(`${where} names '${key}', which is not a method clients can call.`);
      byMethod.set(method, value);
    }
    return byMethod;
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
    const state = this.#state(connection);
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

  /** The connection's dispatch state, kept on the connection itself (no map entry per connection). */
  #state(connection: HubConnectionContext): ConnectionState {
    connection.dispatchState ??= {
      limiter: undefined,
      streams: undefined,
      uploads: undefined,
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
   * only, and only for them), the number of client-to-server streams. The client's streams fill the
   * method's last parameters (after its ordinary arguments, before the `AbortSignal` of an `async *`
   * method), so a call fits when its arguments and streams together are as many as the method declares.
   */
  #bind(
    message: InvocationMessage | StreamInvocationMessage,
  ): { method: HubMethod; error?: undefined } | { method?: undefined; error: string } {
    const { target, arguments: args } = message;
    const streaming = message.type === MessageType.StreamInvocation;
    const method = this.#methods.get(target.toLowerCase());
    const failed = `Failed to invoke '${target}' due to an error on the server.`;
    if (!method) return { error: `${failed} HubException: Method does not exist.` };
    const { arity } = method;
    const uploads = message.streamIds?.length ?? 0;
    const given = args.length + uploads;
    const fits = given === arity || (method.streaming && given === arity - 1);
    // Parameters a client fills: all of them, or all but the trailing AbortSignal of an `async *` method.
    const slots = method.streaming ? Math.max(0, arity - 1) : arity;
    if (!fits && (uploads === 0 || args.length > slots)) {
      const expected = uploads === 0 ? arity : slots;
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
    if (!fits)
      return {
        error: this.#invokeError(
          target,
          new HubError(`Client sent ${uploads} stream(s), Hub method expects ${slots - args.length}.`),
        ),
      };
    return { method };
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
    const state = this.#state(connection);
    state.uploads ??= new Uploads(connection, this.settings);
    return state.uploads.open(ids);
  }

  /**
   * Calls a method for `message` on a new hub instance, through the filters; returns what the method
   * returned (a promise for an `async` method).
   */
  #call(
    connection: HubConnectionContext,
    method: HubMethod,
    message: InvocationMessage | StreamInvocationMessage,
    uploads: readonly ClientStream[],
    signal?: AbortSignal,
  ): unknown {
    const tracing = this.settings.tracing;
    if (tracing)
      return tracing.invoke(connection, method, message, () =>
        this.#run(connection, method, message, uploads, signal),
      );
    return this.#run(connection, method, message, uploads, signal);
  }

  #run(
    connection: HubConnectionContext,
    method: HubMethod,
    message: InvocationMessage | StreamInvocationMessage,
    uploads: readonly ClientStream[],
    signal?: AbortSignal,
  ): unknown {
    const hub = this.hub(connection);
    const args = this.#arguments(method, message, uploads, signal);
    const plan = this.#plans.get(method);
    if (!plan) return method.fn.apply(hub, args);
    return this.#guarded(plan, hub, method, message, args);
  }

  /**
   * Binds the client's arguments (its schemas), authorizes the call, then runs it through the filters, in
   * SignalR's order. Throws a {@link Refusal} when refused.
   */
  async #guarded(
    plan: MethodPlan,
    hub: Hub,
    method: HubMethod,
    message: InvocationMessage | StreamInvocationMessage,
    args: unknown[],
  ): Promise<unknown> {
    const { context } = hub;
    const { target } = message;
    if (plan.schemas) {
      let failure: BindingFailureLog | undefined;
      try {
        const refused = await bindArguments(plan.schemas, args, message.arguments.length);
        if (refused)
          failure = { argument: refused.index, issues: refused.issues.map((issue) => issue.message) };
      } catch (error) {
        failure = { error };
      }
      if (failure) {
        this.log.debug('Hub method arguments refused', {
          target,
          connectionId: context.connectionId,
          ...failure,
        });
        throw new Refusal(this.#bindingError(target), 'invalid');
      }
    }
    const invocation: HubInvocationContext = { hub, context, methodName: method.name, arguments: args };
    if (plan.policy) {
      const allowed = await isAuthorized(plan.policy, context.claims, {
        userIdentifier: context.userIdentifier,
        authenticated: this.settings.jwtSecret !== undefined,
        http: context.http,
        invocation,
      });
      if (!allowed) {
        this.log.debug('Hub method not authorized', { target, connectionId: context.connectionId });
        throw new Refusal(`Failed to invoke '${target}' because user is unauthorized`, 'unauthorized');
      }
    }
    return plan.chain ? plan.chain(invocation) : method.fn.apply(hub, args);
  }

  /** The arguments a method is called with: the client's, then its streams, then the signal if it fits. */
  #arguments(
    method: HubMethod,
    message: InvocationMessage | StreamInvocationMessage,
    uploads: readonly ClientStream[],
    signal?: AbortSignal,
  ): unknown[] {
    const args: unknown[] = [...message.arguments, ...uploads];
    if (signal && args.length === method.arity - 1) args.push(signal);
    return args;
  }

  #invocation(connection: HubConnectionContext, message: InvocationMessage): void {
    const { invocationId, target } = message;
    const bound = this.#bind(message);
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

  /** {@link #invoke}, timed while something subscribes to the measurements (nothing extra otherwise). */
  #timedInvoke(
    connection: HubConnectionContext,
    method: HubMethod,
    message: InvocationMessage,
    uploads: readonly ClientStream[],
  ): Promise<unknown> {
    const { meter } = this.settings;
    const started = meter.start();
    return meter.track(started, method, false, this.#invoke(connection, method, message, uploads));
  }

  /**
   * Runs a method and answers with its completion once it returned (its streams are closed first);
   * resolves with how the call ended.
   */
  async #invoke(
    connection: HubConnectionContext,
    method: HubMethod,
    message: InvocationMessage,
    uploads: readonly ClientStream[],
  ): Promise<InvocationOutcome> {
    const { invocationId, target } = message;
    if (connection.closed) return 'canceled';
    let result: unknown;
    try {
      result = await this.#call(connection, method, message, uploads);
    } catch (error) {
      const refused = error instanceof Refusal;
      if (!refused)
        this.log.debug('Hub method failed', { target, connectionId: connection.connectionId, error });
      if (invocationId)
        connection.send({
          type: MessageType.Completion,
          invocationId,
          error: refused ? error.message : this.#invokeError(target, error),
        });
      return refused ? error.outcome : 'error';
    } finally {
      connection.dispatchState?.uploads?.close(uploads);
    }
    if (!invocationId) return 'ok';
    if (isAsyncIterable(result)) {
      connection.send({
        type: MessageType.Completion,
        invocationId,
        error: `The client attempted to invoke the streaming '${target}' method with a non-streaming invocation.`,
      });
      return 'error';
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
      return 'error';
    }
    return 'ok';
  }

  #streamInvocation(connection: HubConnectionContext, message: StreamInvocationMessage): void {
    const { invocationId } = message;
    const bound = this.#bind(message);
    if (!bound.method) {
      this.settings.meter.refused(this.#methods.get(message.target.toLowerCase()), true);
      connection.send({ type: MessageType.Completion, invocationId, error: bound.error });
      return;
    }
    const state = this.#state(connection);
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
    const stream = this.#stream(connection, bound.method, message, uploads, controller);
    const task = meter.track(started, bound.method, true, stream).finally(() => {
      if (streams.get(invocationId) === controller) streams.delete(invocationId);
    });
    guardPromise(this.log, 'Hub stream', task, (error) => connection.close(asError(error)));
  }

  /** Streams a method's items, then its completion; resolves with how the stream ended. */
  async #stream(
    connection: HubConnectionContext,
    method: HubMethod,
    message: StreamInvocationMessage,
    uploads: readonly ClientStream[],
    controller: AbortController,
  ): Promise<InvocationOutcome> {
    const { invocationId, target } = message;
    const { signal } = controller;
    let error: string | undefined;
    let iterator: AsyncIterator<unknown> | undefined;
    try {
      let source: unknown;
      try {
        source = await this.#call(connection, method, message, uploads, signal);
      } catch (e) {
        if (e instanceof Refusal) {
          error = e.message;
          return e.outcome;
        }
        this.log.debug('Hub stream method failed', {
          target,
          connectionId: connection.connectionId,
          error: e,
        });
        error = this.#invokeError(target, e);
        return 'error';
      }
      if (!isAsyncIterable(source)) {
        error = `The client attempted to invoke the non-streaming '${target}' method with a streaming invocation.`;
        return 'error';
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
      return signal.aborted || connection.closed ? 'canceled' : 'ok';
    } catch (e) {
      if (!signal.aborted) {
        this.log.debug('Hub stream failed', { target, connectionId: connection.connectionId, error: e });
        error = this.#errorText('An error occurred on the server while streaming results.', e);
      }
      return signal.aborted ? 'canceled' : 'error';
    } finally {
      if (signal.aborted || connection.closed) {
        // Stop the source without waiting: it may be blocked on something that never comes.
        iterator?.return?.()?.catch(() => {});
      }
      // A source still reading a client stream sees it end (it may be waiting for an item).
      connection.dispatchState?.uploads?.close(uploads);
      connection.send({ type: MessageType.Completion, invocationId, ...(error !== undefined && { error }) });
    }
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

  /** SignalR's answer to arguments that do not bind (its binding failure, an `InvalidDataException`). */
  #bindingError(target: string): string {
    const failed = `Failed to invoke '${target}' due to an error on the server.`;
    return this.settings.detailedErrors
      ? `${failed} InvalidDataException: Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.`
      : failed;
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
  run(task: () => Promise<unknown>): { full: boolean; done: Promise<void> } {
    const done = this.#run(task);
    return { full: this.#active >= this.limit && this.#waiting.length >= this.queueLimit, done };
  }

  async #run(task: () => Promise<unknown>): Promise<void> {
    if (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    try {
      await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
      if (this.#waiting.length <= this.queueLimit >> 1) this.connection.resumeReceiving(ReadHold.Invocations);
    }
  }
}

/**
 * A connection's open client-to-server streams, by id, and the read hold they share: reading stops while
 * any of them is full and resumes once none is.
 */
class Uploads implements StreamFlow {
  readonly #open = new Map<string, ClientStream>();
  /** Streams whose buffer is full. */
  #full = 0;

  constructor(
    readonly connection: HubConnectionContext,
    readonly settings: DispatcherSettings,
  ) {}

  get(id: string): ClientStream | undefined {
    return this.#open.get(id);
  }

  /** Removes and returns the stream `id` (its client completed it). */
  take(id: string): ClientStream | undefined {
    const stream = this.#open.get(id);
    if (stream) this.#open.delete(id);
    return stream;
  }

  /** Opens a stream per id, or says which id is already open (nothing is opened then). */
  open(ids: readonly string[]): ClientStream[] | string {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (this.#open.has(id) || ids.indexOf(id) !== i) return `Stream ID '${id}' is already in use.`;
    }
    const capacity = this.settings.streamBufferCapacity;
    return ids.map((id) => {
      const stream = new ClientStream(id, capacity, this);
      this.#open.set(id, stream);
      return stream;
    });
  }

  /** The method reading `streams` returned: they end (later items are ignored). */
  close(streams: readonly ClientStream[]): void {
    for (const stream of streams) {
      if (this.#open.get(stream.id) === stream) this.#open.delete(stream.id);
      stream.complete();
    }
  }

  /** The connection closed: every open stream throws in the method reading it. */
  closeAll(): void {
    const streams = [...this.#open.values()];
    this.#open.clear();
    for (const stream of streams) stream.complete(new ClientStreamError(stream.id, 'disconnected'));
  }

  full(): void {
    if (this.#full++ > 0) return;
    this.settings.stats.receivePauses++;
    this.connection.pauseReceiving(ReadHold.ClientStreams);
  }

  drained(): void {
    if (--this.#full > 0) return;
    this.connection.resumeReceiving(ReadHold.ClientStreams);
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
  get transport(): TransportKind {
    return this.#connection.transport.kind;
  }
  get http(): HubHttpContext {
    return this.#connection.request;
  }
  abort(): void {
    this.#connection.close();
  }
}
