/** SignalR hub protocol message types, numbered as on the wire (docs/protocol.md, "Hub protocol payloads"). */
export const MessageType = {
  Invocation: 1,
  StreamItem: 2,
  Completion: 3,
  StreamInvocation: 4,
  CancelInvocation: 5,
  Ping: 6,
  Close: 7,
  Ack: 8,
  Sequence: 9,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Custom headers a message may carry (string keys and values). */
export type MessageHeaders = Record<string, string>;

/** Invocation (type 1): asks the other side to run `target` with `arguments`. */
export interface InvocationMessage {
  readonly type: typeof MessageType.Invocation;
  readonly headers?: MessageHeaders;
  /** Absent for a non-blocking invocation (no result expected). */
  readonly invocationId?: string;
  readonly target: string;
  readonly arguments: readonly unknown[];
  readonly streamIds?: readonly string[];
}

/** StreamItem (type 2): one item of the stream identified by `invocationId`. */
export interface StreamItemMessage {
  readonly type: typeof MessageType.StreamItem;
  readonly headers?: MessageHeaders;
  readonly invocationId: string;
  readonly item: unknown;
}

/** A completion carries `result` (maybe `undefined` for void) or `error`, never both. */
export interface CompletionMessage {
  readonly type: typeof MessageType.Completion;
  readonly headers?: MessageHeaders;
  readonly invocationId: string;
  readonly error?: string;
  readonly result?: unknown;
}

/** StreamInvocation (type 4): asks the server to run `target` and stream its items back. */
export interface StreamInvocationMessage {
  readonly type: typeof MessageType.StreamInvocation;
  readonly headers?: MessageHeaders;
  readonly invocationId: string;
  readonly target: string;
  readonly arguments: readonly unknown[];
  readonly streamIds?: readonly string[];
}

/** CancelInvocation (type 5): the client stops the stream identified by `invocationId`. */
export interface CancelInvocationMessage {
  readonly type: typeof MessageType.CancelInvocation;
  readonly headers?: MessageHeaders;
  readonly invocationId: string;
}

/** Ping (type 6): a keep-alive. */
export interface PingMessage {
  readonly type: typeof MessageType.Ping;
}

/**
 * Close (type 7): the connection is closing, with the error that closed it and whether the client may
 * reconnect.
 */
export interface CloseMessage {
  readonly type: typeof MessageType.Close;
  readonly error?: string;
  readonly allowReconnect?: boolean;
}

/** Stateful reconnect: how many sequenced messages the sender of this Ack has received. */
export interface AckMessage {
  readonly type: typeof MessageType.Ack;
  readonly sequenceId: number;
}

/** Stateful reconnect: the id of the first message being (re)sent. */
export interface SequenceMessage {
  readonly type: typeof MessageType.Sequence;
  readonly sequenceId: number;
}

/** Any hub protocol message. */
export type HubMessage =
  | InvocationMessage
  | StreamItemMessage
  | CompletionMessage
  | StreamInvocationMessage
  | CancelInvocationMessage
  | PingMessage
  | CloseMessage
  | AckMessage
  | SequenceMessage;

/** Messages counted and buffered by stateful reconnect (every hub invocation message). */
export function isSequencedMessage(message: HubMessage): boolean {
  return message.type >= MessageType.Invocation && message.type <= MessageType.CancelInvocation;
}

/** A completion's outcome, as `setConnectionResult` receives it and core forwards it between servers. */
export function completionWithResult(invocationId: string, result: unknown): CompletionMessage {
  return { type: MessageType.Completion, invocationId, result };
}

/** A completion that fails the invocation `invocationId` with `error`. */
export function completionWithError(invocationId: string, error: string): CompletionMessage {
  return { type: MessageType.Completion, invocationId, error };
}
