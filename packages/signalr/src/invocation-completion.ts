import { type InvocationMessage, MessageType } from '@backplane/hub-protocol';
import type { ClientStream } from './client-stream.js';
import type { HubConnectionContext } from './hub-connection-context.js';
import { type HubMethod, isAsyncIterable } from './hub-methods.js';
import { invokeErrorText, Refusal } from './invocation-errors.js';
import type { InvocationOutcome } from './invocation-meter.js';
import type { MethodInvoker } from './method-invoker.js';

/**
 * Runs a method and answers with its completion once it returned (its streams are closed first);
 * resolves with how the call ended.
 */
export async function runInvocation(
  invoker: MethodInvoker,
  connection: HubConnectionContext,
  method: HubMethod,
  message: InvocationMessage,
  uploads: readonly ClientStream[],
): Promise<InvocationOutcome> {
  const { invocationId, target } = message;
  const { log } = invoker;
  const { detailedErrors } = invoker.settings;
  if (connection.closed) return 'canceled';
  let result: unknown;
  try {
    result = await invoker.call(connection, method, message, uploads);
  } catch (error) {
    const refused = error instanceof Refusal;
    if (!refused) log.debug('Hub method failed', { target, connectionId: connection.connectionId, error });
    if (invocationId)
      connection.send({
        type: MessageType.Completion,
        invocationId,
        error: refused ? error.message : invokeErrorText(target, error, detailedErrors),
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
    log.warn('Hub method result could not be serialized', { target, error });
    connection.send({
      type: MessageType.Completion,
      invocationId,
      error: invokeErrorText(target, error, detailedErrors),
    });
    return 'error';
  }
  return 'ok';
}
