import { InvalidArgumentError } from '@backplane/core';
import { ForbiddenError, UnauthorizedError } from './errors.js';
import type { HubHttpContext } from './http-request.js';
import type { HubInvocationContext } from './hub-filter.js';
import type { Claims } from './jwt.js';

/** What an {@link AuthorizationPolicy} is asked about, besides the claims. */
export interface AuthorizationContext {
  /** The user id (see `userIdProvider`), or undefined when anonymous. */
  readonly userIdentifier: string | undefined;
  /**
   * Whether the claims come from a verified access token (`HubServerOptions.jwtSecret` is set); without
   * one every caller is anonymous.
   */
  readonly authenticated: boolean;
  /**
   * The HTTP request: negotiate (or the WebSocket upgrade of a client that skips negotiation) for a hub's
   * policy, the request that opened the transport for a method's.
   */
  readonly http: HubHttpContext;
  /** The call being authorized (a method's policy); undefined for a hub's policy. */
  readonly invocation: HubInvocationContext | undefined;
}

/**
 * Decides from the caller's verified claims whether it may connect to a hub or call a method (a policy of
 * ASP.NET Core's `[Authorize(Policy = ...)]`). Allowed only when it returns, or resolves to, `true`; a
 * policy that throws fails the request (negotiate answers 500, a call gets the generic error completion).
 */
export type AuthorizationPolicy = (
  claims: Claims,
  context: AuthorizationContext,
) => boolean | Promise<boolean>;

/**
 * A policy, or `true`: any authenticated caller (a verified JWT; ASP.NET Core's `[Authorize]` without a
 * policy), which refuses everyone when the server has no `jwtSecret`.
 */
export type AuthorizationRule = true | AuthorizationPolicy;

/** Rules of a hub's methods by method name (matched case-insensitively, like the methods). */
export type MethodAuthorization = Readonly<Record<string, AuthorizationRule>>;

/** Whether `rule` admits a caller with `claims`. */
export async function isAuthorized(
  rule: AuthorizationRule,
  claims: Claims,
  context: AuthorizationContext,
): Promise<boolean> {
  if (rule === true) return context.authenticated;
  return (await rule(claims, context)) === true;
}

/**
 * Why a hub's rule refuses a caller, or undefined when it admits it: as ASP.NET Core's authorization
 * middleware answers, {@link UnauthorizedError} (401, a challenge) for an anonymous caller and
 * {@link ForbiddenError} (403) for an authenticated one.
 */
export async function hubRefusal(
  rule: AuthorizationRule,
  claims: Claims,
  context: AuthorizationContext,
): Promise<UnauthorizedError | ForbiddenError | undefined> {
  if (await isAuthorized(rule, claims, context)) return undefined;
  return context.authenticated
    ? new ForbiddenError()
    : new UnauthorizedError('The hub requires an authorized user.');
}

/** `value` as a rule, or undefined when absent; throws when it is neither `true` nor a function. */
export function authorizationRule(value: unknown, where: string): AuthorizationRule | undefined {
  if (value === undefined || value === true || typeof value === 'function')
    return value as AuthorizationRule | undefined;
  throw new InvalidArgumentError(`${where} must be true or a policy function (claims, context) => boolean.`);
}
