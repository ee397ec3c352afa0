import type { LimitName } from './errors.js';
import type { TraceContext } from './trace-context.js';

/** The envelope format version this build writes and reads. */
export const ENVELOPE_VERSION = 1;

/**
 * Every envelope starts with this header.
 * - `origin`: the sending server's id (its inbox is `server:{origin}`).
 * - `epoch`: that server instance's random start id; a restart is a new epoch.
 * - `seq`: a counter per (origin, epoch, channel), starting at 1, for gap detection; 0 for the kinds that
 *   take no part in it (presence queries and answers).
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
  /** The sender's publish span (W3C Trace Context), when the sender traces; see docs/operations.md#tracing. */
  readonly trace?: TraceContext;
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
  /**
   * Connections this server holds whose ids another server minted (sessions it adopted): while a live
   * server announces one, it is not gone with the server that minted it (sends, group commands, client
   * results and queries by its id still go to that server's inbox, which the adopter follows).
   */
  readonly adopted?: readonly string[];
}

/**
 * What a presence query asks each server about its own connections: how many it holds (`connections`),
 * how many are in a group (`group`) or belong to a user (`user`), which belong to a user
 * (`user-connections`), or, asked of the connection's owner only, which groups a connection is in
 * (`connection-groups`).
 */
export type PresenceQueryKind = 'connections' | 'group' | 'user' | 'user-connections' | 'connection-groups';

/**
 * A presence query (on `internal:presence-query`, or on the owner's inbox for `connection-groups`). Every
 * server that receives it answers to `origin`'s inbox with its local state. Not sequenced (`seq` 0) and
 * never buffered: an answer that comes late is worth nothing.
 */
export interface PresenceQueryBody {
  readonly kind: 'presence-query';
  /** A per-origin counter; the answer carries it back. */
  readonly id: number;
  readonly query: PresenceQueryKind;
  /** The group, user or connection asked about; absent for `connections`. */
  readonly name?: string;
  /** The most ids the asker wants in one answer (the answering server applies its own bound too). */
  readonly limit: number;
}

/** One server's answer to a presence query, on the asker's inbox. */
export interface PresenceAnswerBody {
  readonly kind: 'presence-answer';
  readonly id: number;
  /** How many connections (or, for `connection-groups`, groups) this server counts, before any cut. */
  readonly count: number;
  /**
   * The connection ids (`user-connections`) or group names (`connection-groups`), at most the limit;
   * absent for counts, and for `connection-groups` when the server does not hold the connection.
   */
  readonly ids?: readonly string[];
  /**
   * Where the driver cannot count receivers: the other servers this one knows to be alive (it has
   * listened to heartbeats long enough to have heard each of them), so the asker knows whom to wait for.
   */
  readonly peers?: readonly string[];
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
  | PresenceQueryBody
  | PresenceAnswerBody
  | RequestBody
  | ReplyBody;
export type EnvelopeKind = EnvelopeBody['kind'];

export type Envelope = EnvelopeHeader & EnvelopeBody;
