import { InvalidArgumentError } from '@backplane/core';
import { type AuthorizationRule, authorizationRule } from './authorization.js';
import type { HubClass } from './hub.js';
import { type HubFilter, type InvocationChain, invocationChain } from './hub-filter.js';
import type { HubMethod } from './hub-methods.js';
import { type ArgumentSchemas, argumentSchemas } from './standard-schema.js';

/** What runs around a method beyond the call itself; methods without any have no plan. */
export interface MethodPlan {
  /** Validators of the client's arguments (`schemas`). */
  readonly schemas: ArgumentSchemas | undefined;
  /** Who may call it (`methodAuthorization`). */
  readonly policy: AuthorizationRule | undefined;
  /** The filters around it. */
  readonly chain: InvocationChain | undefined;
}

/**
 * The plans of a hub class's methods, from its static `methodAuthorization` and `schemas` and the filters
 * (`name` names the class in errors); throws when a declaration is malformed.
 */
export function methodPlans(
  hubClass: HubClass,
  methods: ReadonlyMap<string, HubMethod>,
  filters: readonly HubFilter[],
  name: string,
): Map<HubMethod, MethodPlan> {
  const plans = new Map<HubMethod, MethodPlan>();
  const policies = byMethod(methods, hubClass.methodAuthorization, `${name}.methodAuthorization`);
  const declaredSchemas = byMethod(methods, hubClass.schemas, `${name}.schemas`);
  for (const method of methods.values()) {
    const schemas = argumentSchemas(
      declaredSchemas.get(method),
      method.streaming ? Math.max(0, method.arity - 1) : method.arity,
      `${name}.schemas.${method.name}`,
    );
    const policy = authorizationRule(policies.get(method), `${name}.methodAuthorization.${method.name}`);
    const chain = invocationChain(filters, method.fn);
    if (schemas || policy || chain) plans.set(method, { schemas, policy, chain });
  }
  return plans;
}

/**
 * A static declaration by method name (`methodAuthorization`, `schemas`) as a map by method; throws when
 * a name is no method clients can call (a typo would otherwise leave the method open or unchecked).
 */
function byMethod(
  methods: ReadonlyMap<string, HubMethod>,
  declared: unknown,
  where: string,
): Map<HubMethod, unknown> {
  const found = new Map<HubMethod, unknown>();
  if (declared === undefined) return found;
  if (typeof declared !== 'object' || declared === null)
    throw new InvalidArgumentError(`${where} must be an object keyed by method name.`);
  for (const [key, value] of Object.entries(declared)) {
    const method = methods.get(key.toLowerCase());
    if (!method)
      throw new InvalidArgumentError(`${where} names '${key}', which is not a method clients can call.`);
    found.set(method, value);
  }
  return found;
}
