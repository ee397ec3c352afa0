import type { Logger } from '@backplane/core';
import type { InvocationMessage, StreamInvocationMessage } from '@backplane/hub-protocol';
import { isAuthorized } from './authorization.js';
import type { ClientStream } from './client-stream.js';
import type { DispatcherSettings } from './dispatcher-settings.js';
import type { Hub } from './hub.js';
import type { HubConnectionContext } from './hub-connection-context.js';
import type { HubInvocationContext } from './hub-filter.js';
import type { HubMethod } from './hub-methods.js';
import { callArguments } from './invocation-binding.js';
import { bindingErrorText, Refusal } from './invocation-errors.js';
import type { MethodPlan } from './method-plans.js';
import { bindArguments } from './standard-schema.js';

/** What the log says about arguments that did not bind: the refused one and why, or the validator's error. */
type BindingFailureLog = { argument: number; issues: string[] } | { error: unknown };

/**
 * Calls hub methods on new hub instances: traced where tracing is on, and for methods with a plan, with the
 * client's arguments validated, the call authorized and run through the filters.
 */
export class MethodInvoker {
  constructor(
    readonly plans: ReadonlyMap<HubMethod, MethodPlan>,
    readonly settings: DispatcherSettings,
    readonly log: Logger,
    /** A hub instance for one call. */
    readonly hubFor: (connection: HubConnectionContext) => Hub,
  ) {}

  /**
   * Calls a method for `message` on a new hub instance, through the filters; returns what the method
   * returned (a promise for an `async` method).
   */
  call(
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
    const hub = this.hubFor(connection);
    const args = callArguments(method, message, uploads, signal);
    const plan = this.plans.get(method);
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
        throw new Refusal(bindingErrorText(target, this.settings.detailedErrors), 'invalid');
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
}
