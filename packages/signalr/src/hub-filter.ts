import { InvalidArgumentError } from '@backplane/core';
import type { Hub, HubCallerContext } from './hub.js';

/** One call of a hub method, as a {@link HubFilter} sees it (SignalR's `HubInvocationContext`). */
export interface HubInvocationContext {
  /** The hub instance serving this call. */
  readonly hub: Hub;
  /** Who is calling: connection id, user, claims, items, the HTTP request (the hub's `context`). */
  readonly context: HubCallerContext;
  /** The method's name as the hub declares it (clients may call it in another case). */
  readonly methodName: string;
  /**
   * What the method receives: the client's arguments (as its argument schemas returned them), then its
   * client-to-server streams, then the `AbortSignal` of an `async *` method.
   */
  readonly arguments: readonly unknown[];
}

/** A connection's start or end, as a {@link HubFilter} sees it (SignalR's `HubLifetimeContext`). */
export interface HubLifetimeContext {
  /** The hub instance whose `onConnected` or `onDisconnected` runs. */
  readonly hub: Hub;
  /** Who connected or disconnected (the hub's `context`). */
  readonly context: HubCallerContext;
}

/**
 * Middleware around hub method calls and a connection's `onConnected` / `onDisconnected` (SignalR's
 * `IHubFilter`); each part is optional. A part runs the next filter, and at the end the hub's own method,
 * by calling `next`, and may do work before and after it, change what it returns, or not call it at all:
 * throwing a `HubError` sends its message to the caller, as a hub method throwing it does, and returning a
 * value without calling `next` answers the call with that value.
 *
 * Filters run in registration order: `HubServerOptions.filters` first, then the hub class's static
 * `filters`; the first is the outermost. `invokeMethod` wraps every call, server streams (`next()` returns
 * the method's async iterable, before any item is sent) and calls with client-to-server streams included,
 * after the arguments are bound (argument schemas) and the call is authorized (`methodAuthorization`): a
 * refused call reaches no filter.
 */
export interface HubFilter {
  /**
   * Around a hub method call. `next(context?)` runs the rest (pass a context with other `arguments` to
   * change what the method receives) and resolves with the method's result.
   */
  invokeMethod?(
    context: HubInvocationContext,
    next: (context?: HubInvocationContext) => Promise<unknown>,
  ): unknown;
  /** Around the hub's `onConnected`. Throwing ends the connection, as `onConnected` throwing does. */
  onConnected?(context: HubLifetimeContext, next: () => Promise<void>): void | Promise<void>;
  /** Around the hub's `onDisconnected`; `error` when the connection ended badly. */
  onDisconnected?(
    context: HubLifetimeContext,
    error: Error | undefined,
    next: () => Promise<void>,
  ): void | Promise<void>;
}

/** Runs one call through the filters; the innermost step is the method. */
export type InvocationChain = (context: HubInvocationContext) => Promise<unknown>;
/** Runs a lifecycle hook through the filters. */
export type LifetimeChain = (context: HubLifetimeContext, error: Error | undefined) => Promise<void>;

/** The filters of a hub: `global`, then the hub class's, checked (`where` names them in the error). */
export function hubFilters(global: readonly HubFilter[], own: unknown, where: string): readonly HubFilter[] {
  if (own !== undefined && !Array.isArray(own))
    throw new InvalidArgumentError(`${where}.filters must be an array of hub filters.`);
  const filters = [...global, ...((own as HubFilter[] | undefined) ?? [])];
  for (const filter of filters) {
    const parts = filter as Partial<Record<keyof HubFilter, unknown>> | null;
    const valid =
      typeof parts === 'object' &&
      parts !== null &&
      (['invokeMethod', 'onConnected', 'onDisconnected'] as const).every(
        (name) => parts[name] === undefined || typeof parts[name] === 'function',
      );
    if (!valid)
      throw new InvalidArgumentError(
        `Hub filters of ${where} must be objects whose invokeMethod, onConnected and onDisconnected are functions.`,
      );
  }
  return filters;
}

/**
 * The chain of `filters` around `method` (called with the context's hub and arguments), or undefined when
 * no filter wraps invocations.
 */
export function invocationChain(
  filters: readonly HubFilter[],
  method: (this: Hub, ...args: unknown[]) => unknown,
): InvocationChain | undefined {
  if (!filters.some((f) => f.invokeMethod)) return undefined;
  let chain: InvocationChain = async (c) => method.apply(c.hub, c.arguments as unknown[]);
  for (let i = filters.length - 1; i >= 0; i--) {
    const filter = filters[i]!;
    if (!filter.invokeMethod) continue;
    const inner = chain;
    chain = async (c) => filter.invokeMethod!(c, (replaced) => inner(replaced ?? c));
  }
  return chain;
}

/** The chain of `filters` around the hub's `onConnected`, or undefined when no filter wraps it. */
export function connectedChain(filters: readonly HubFilter[]): LifetimeChain | undefined {
  if (!filters.some((f) => f.onConnected)) return undefined;
  let chain: LifetimeChain = async (c) => c.hub.onConnected();
  for (let i = filters.length - 1; i >= 0; i--) {
    const filter = filters[i]!;
    if (!filter.onConnected) continue;
    const inner = chain;
    chain = async (c, error) => filter.onConnected!(c, () => inner(c, error));
  }
  return chain;
}

/** The chain of `filters` around the hub's `onDisconnected`, or undefined when no filter wraps it. */
export function disconnectedChain(filters: readonly HubFilter[]): LifetimeChain | undefined {
  if (!filters.some((f) => f.onDisconnected)) return undefined;
  let chain: LifetimeChain = async (c, error) => c.hub.onDisconnected(error);
  for (let i = filters.length - 1; i >= 0; i--) {
    const filter = filters[i]!;
    if (!filter.onDisconnected) continue;
    const inner = chain;
    chain = async (c, error) => filter.onDisconnected!(c, error, () => inner(c, error));
  }
  return chain;
}
