import { MessageType, type StreamInvocationMessage } from '@backplane/hub-protocol';
import type { ClientStream } from './client-stream.js';
import type { HubConnectionContext } from './hub-connection-context.js';
import { type HubMethod, isAsyncIterable } from './hub-methods.js';
import { errorText, invokeErrorText, Refusal } from './invocation-errors.js';
import type { InvocationOutcome } from './invocation-meter.js';
import type { MethodInvoker } from './method-invoker.js';

/** Stream items sent before yielding to the event loop, so a busy stream cannot starve other work. */
const STREAM_ITEMS_PER_TURN = 64;

/** Streams a method's items, then its completion; resolves with how the stream ended. */
export async function runStream(
  invoker: MethodInvoker,
  connection: HubConnectionContext,
  method: HubMethod,
  message: StreamInvocationMessage,
  uploads: readonly ClientStream[],
  controller: AbortController,
): Promise<InvocationOutcome> {
  const { invocationId, target } = message;
  const { log } = invoker;
  const { detailedErrors } = invoker.settings;
  const { signal } = controller;
  let error: string | undefined;
  let iterator: AsyncIterator<unknown> | undefined;
  try {
    let source: unknown;
    try {
      source = await invoker.call(connection, method, message, uploads, signal);
    } catch (e) {
      if (e instanceof Refusal) {
        error = e.message;
        return e.outcome;
      }
      log.debug('Hub stream method failed', {
        target,
        connectionId: connection.connectionId,
        error: e,
      });
      error = invokeErrorText(target, e, detailedErrors);
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
      log.debug('Hub stream failed', { target, connectionId: connection.connectionId, error: e });
      error = errorText('An error occurred on the server while streaming results.', e, detailedErrors);
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
