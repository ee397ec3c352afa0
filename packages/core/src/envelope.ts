import type { LimitName } from './errors.js';

/** The envelope format version this build writes and reads. */
export const ENVELOPE_VERSION = 1;

/**
 * Every envelope starts with this header.
 * - `origin`: the sending server's id (its inbox is `server:{origin}`).
 * - `epoch`: that server instance's random start id; a restart is a new epoch.
 * - `seq`: a counter per (origin, epoch, channel), starting at 1, for gap detection.
 */
export interface EnvelopeHeader {
  readonly v: number;
  readonly origin: string;
  readonly epoch: string;
  readonly seq: number;
}

/** A hub invocation, pre-serialized once per hub protocol; receivers forward the bytes untouched. */
export interface InvocationBody {
  readonly kind: 'invocation';
  /** Framed bytes per hub protocol name (`json`, `messagepack`). */
  readonly payloads: ReadonlyMap<string, Uint8Array>;
  /** Connection ids that must not receive it (`sendAllExcept`, `sendGroupExcept`). */
  readonly exclude?: readonly string[];
  /** Target connections, for messages on a server inbox. */
  readonly connectionIds?: readonly string[];
  /** Set for a client result: the owner registers it and forwards the completion to `origin`. */
  readonly invocationId?: string;
  /**
   * Set by `sendGroups`: every group of the send. A receiver delivers once to the union of its members of
   * these groups and ignores the same `batch` arriving on the other group channels (de-duplication).
   */
  readonly groups?: readonly string[];
  /** A per-origin counter identifying one `sendGroups` call. */
  readonly batch?: number;
}

export type GroupAction = 'add' | 'remove';

/** Add or remove a connection on another server to or from a group; the owner acks to `origin`. */
export interface GroupCommandBody {
  readonly kind: 'group-command';
  readonly id: number;
  readonly action: GroupAction;
  readonly group: string;
  readonly connectionId: string;
}

/**
 * The owner's answer to a group command: once its group subscription is live, or at once with `refused`
 * when the command broke one of the owner's limits (nothing changed).
 */
export interface AckBody {
  readonly kind: 'ack';
  readonly id: number;
  readonly refused?: { readonly limit: LimitName; readonly max: number };
}

/** How a client result ended, as forwarded from the connection's owner to the invoking server. */
export type CompletionOutcome = 'error' | 'void' | 'result' | 'disconnected' | 'not-found';

export interface CompletionBody {
  readonly kind: 'completion';
  readonly invocationId: string;
  readonly connectionId: string;
  readonly outcome: CompletionOutcome;
  /** The client's result (`result`) or error message (`error`). */
  readonly value?: unknown;
}

/** A liveness probe a server sends to its own inbox. */
export interface ProbeBody {
  readonly kind: 'probe';
  readonly id: number;
}

/**
 * "I am alive" on the presence channel, every `interval` ms; `interval` 0 means "I am leaving". Used
 * with drivers that cannot count receivers, so a client result to a server that died fails at once.
 */
export interface HeartbeatBody {
  readonly kind: 'heartbeat';
  readonly interval: number;
}

/**
 * A request to the server that owns `connectionId` (on its inbox), answered with a {@link ReplyBody} on
 * the sender's inbox. Core does not read `payload`: the hub server forwards HTTP requests with it.
 */
export interface RequestBody {
  readonly kind: 'request';
  /** Unique among the sender's pending requests; the reply names it. */
  readonly id: number;
  readonly connectionId: string;
  /** How long the owner may take to answer, in ms (it answers before the sender gives up). */
  readonly ttl: number;
  readonly payload: Uint8Array;
}

/**
 * How a request ended on the owner: `ok` (with the handler's answer), `not-found` (no handler, or the
 * connection is not there), `busy` (the owner holds its maximum of requests), `error` (its handler failed).
 */
export type ReplyOutcome = 'ok' | 'not-found' | 'busy' | 'error';

/** The owner's answer to a {@link RequestBody}. */
export interface ReplyBody {
  readonly kind: 'reply';
  readonly id: number;
  readonly outcome: ReplyOutcome;
  /** The handler's answer (`ok` only). */
  readonly payload?: Uint8Array;
}

export type EnvelopeBody =
  | InvocationBody
  | GroupCommandBody
  | AckBody
  | CompletionBody
  | ProbeBody
  | HeartbeatBody
  | RequestBody
  | ReplyBody;
export type EnvelopeKind = EnvelopeBody['kind'];

export type Envelope = EnvelopeHeader & EnvelopeBody;
