import { type CompletionMessage, MessageType } from '@backplane/hub-protocol';
import type { CompletionBody } from './envelope.js';
import { ClosedError, ConnectionNotFoundError, HubError, InvalidInvocationError } from './errors.js';

/**
 * A pending client result. Entries made by `invokeConnection` on this server settle a promise; entries
 * this server (the connection's owner) made for a call from another server forward the outcome back.
 */
export interface PendingResult {
  readonly connectionId: string;
  /** The client answered. */
  complete(completion: CompletionMessage): void;
  /** The call failed without an answer (the target left, exists nowhere, or the manager closed). */
  fail(error: Error): void;
  /** The target connection, held by this server, disconnected before answering. */
  disconnected(): void;
}

/** How to validate a client result; `name` appears in "Error trying to deserialize result to {name}." */
export interface ResultType<T> {
  readonly name: string;
  /** Returns the typed value or throws (its message is appended to the error). */
  parse(value: unknown): T;
}

/**
 * Client results in flight, by invocation id (unique across servers). Mirrors SignalR's
 * `ClientResultsManager`: unknown ids are ignored (late, duplicate or cancelled results), and a result from
 * a connection that was not asked is refused without touching the pending entry.
 */
export class ClientResults {
  readonly #pending = new Map<string, PendingResult>();

  add(invocationId: string, entry: PendingResult): void {
    this.#pending.set(invocationId, entry);
  }

  remove(invocationId: string): void {
    this.#pending.delete(invocationId);
  }

  has(invocationId: string): boolean {
    return this.#pending.has(invocationId);
  }

  /** Completes the entry for `completion.invocationId` if `connectionId` is the one it was sent to. */
  complete(connectionId: string, completion: CompletionMessage): void {
    this.#take(connectionId, completion.invocationId)?.complete(completion);
  }

  /** Fails the entry for `invocationId` if `connectionId` is the one it was sent to. */
  fail(connectionId: string, invocationId: string, error: Error): void {
    this.#take(connectionId, invocationId)?.fail(error);
  }

  /** Fails every entry whose connection matches `predicate` (e.g. its server is gone). */
  failWhere(predicate: (connectionId: string) => boolean, error: (connectionId: string) => Error): void {
    for (const [id, entry] of this.#pending) {
      if (!predicate(entry.connectionId)) continue;
      this.#pending.delete(id);
      entry.fail(error(entry.connectionId));
    }
  }

  /** Settles every entry waiting on `connectionId` as disconnected. */
  connectionGone(connectionId: string): void {
    for (const [id, entry] of this.#pending) {
      if (entry.connectionId !== connectionId) continue;
      this.#pending.delete(id);
      entry.disconnected();
    }
  }

  closeAll(): void {
    const error = new ClosedError('The hub lifetime manager');
    for (const [id, entry] of this.#pending) {
      this.#pending.delete(id);
      entry.fail(error);
    }
  }

  #take(connectionId: string, invocationId: string): PendingResult | undefined {
    const entry = this.#pending.get(invocationId);
    if (!entry) return undefined;
    if (entry.connectionId !== connectionId) {
      throw new InvalidInvocationError(
        `Connection ID '${connectionId}' is not valid for invocation ID '${invocationId}'.`,
      );
    }
    this.#pending.delete(invocationId);
    return entry;
  }
}

/** Turns a client's completion into the caller's value or error, validating with `resultType`. */
export function settleCompletion<T>(
  completion: CompletionMessage,
  resultType: ResultType<T> | undefined,
  resolve: (value: T) => void,
  reject: (error: Error) => void,
): void {
  if (completion.error !== undefined) {
    reject(new HubError(completion.error));
    return;
  }
  if (!resultType) {
    resolve(completion.result as T);
    return;
  }
  try {
    resolve(resultType.parse(completion.result));
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    reject(new HubError(`Error trying to deserialize result to ${resultType.name}. ${detail}`, { cause }));
  }
}

/** The envelope body that carries a client's completion back to the invoking server. */
export function completionToBody(connectionId: string, completion: CompletionMessage): CompletionBody {
  const { invocationId } = completion;
  if (completion.error !== undefined)
    return { kind: 'completion', invocationId, connectionId, outcome: 'error', value: completion.error };
  if (completion.result !== undefined)
    return { kind: 'completion', invocationId, connectionId, outcome: 'result', value: completion.result };
  return { kind: 'completion', invocationId, connectionId, outcome: 'void' };
}

/** What a completion body received from the owner means: a completion, or a failure without an answer. */
export function completionFromBody(body: CompletionBody): CompletionMessage | Error {
  const { invocationId, connectionId } = body;
  switch (body.outcome) {
    case 'result':
      return { type: MessageType.Completion, invocationId, result: body.value };
    case 'error':
      return { type: MessageType.Completion, invocationId, error: String(body.value) };
    case 'void':
      return { type: MessageType.Completion, invocationId };
    case 'disconnected':
      return new HubError('Connection disconnected.');
    case 'not-found':
      return new ConnectionNotFoundError(connectionId);
  }
}
