import { HubError } from '@backplane/core';
import { type InvocationMessage, MessageType, type StreamInvocationMessage } from '@backplane/hub-protocol';
import type { ClientStream } from './client-stream.js';
import type { HubMethod } from './hub-methods.js';
import { invokeErrorText } from './invocation-errors.js';

/** The method a call targets, or the error completion SignalR would answer. */
export type BoundInvocation =
  | { method: HubMethod; error?: undefined }
  | { method?: undefined; error: string };

/**
 * The method a call targets, or the error completion SignalR would answer, checked before anything runs:
 * the method exists, the argument count, the invocation kind (a stream invocation for `async *` methods
 * only, and only for them), the number of client-to-server streams. The client's streams fill the
 * method's last parameters (after its ordinary arguments, before the `AbortSignal` of an `async *`
 * method), so a call fits when its arguments and streams together are as many as the method declares.
 */
export function bindInvocation(
  methods: ReadonlyMap<string, HubMethod>,
  message: InvocationMessage | StreamInvocationMessage,
  detailedErrors: boolean,
): BoundInvocation {
  const { target, arguments: args } = message;
  const streaming = message.type === MessageType.StreamInvocation;
  const method = methods.get(target.toLowerCase());
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
    return { error: detailedErrors ? `${failed} ${detail}` : failed };
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
      error: invokeErrorText(
        target,
        new HubError(`Client sent ${uploads} stream(s), Hub method expects ${slots - args.length}.`),
        detailedErrors,
      ),
    };
  return { method };
}

/** The arguments a method is called with: the client's, then its streams, then the signal if it fits. */
export function callArguments(
  method: HubMethod,
  message: InvocationMessage | StreamInvocationMessage,
  uploads: readonly ClientStream[],
  signal?: AbortSignal,
): unknown[] {
  const args: unknown[] = [...message.arguments, ...uploads];
  if (signal && args.length === method.arity - 1) args.push(signal);
  return args;
}
