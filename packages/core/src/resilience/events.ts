import type { ChannelTarget } from '../channels.js';

/**
 * What the resilience pipeline reports, as one typed union stream (`manager.events$`). Every loss the
 * backplane knows of is one of these events; nothing is lost silently.
 */
export type BackplaneEvent =
  /** The link to the broker went down (driver state, or a probe that did not come back). */
  | { readonly type: 'outage-started'; readonly at: number; readonly reason: string }
  /** The link is back; `durationMs` since `outage-started`. */
  | { readonly type: 'outage-ended'; readonly at: number; readonly durationMs: number }
  /**
   * Messages from `origin` on `channel` with seq `from`..`to` (inclusive) never arrived here.
   * `target` names the group or user that missed messages, for reconciliation.
   */
  | {
      readonly type: 'gap';
      readonly channel: string;
      /** What the channel serves: `all`, a group, a user, or this server's inbox (connection sends). */
      readonly target: ChannelTarget | undefined;
      readonly origin: string;
      readonly epoch: string;
      readonly from: number;
      readonly to: number;
    }
  /** The outbox dropped (`drop-oldest`) or refused (`reject`) messages: they were never published. */
  | {
      readonly type: 'overflow';
      readonly dropped: number;
      readonly policy: OutboxPolicy;
      readonly reason: OverflowReason;
    }
  /** Buffered messages were published after the link came back. */
  | { readonly type: 'flushed'; readonly count: number }
  /** Durable mode: `count` messages this server had missed on `channel` were read back from the log and delivered. */
  | {
      readonly type: 'replayed';
      readonly channel: string;
      readonly target: ChannelTarget | undefined;
      readonly count: number;
    }
  /**
   * Durable mode: the outcome of a replay. `recovered: false` means the log no longer held everything that
   * was missed; the `gap` events that follow name exactly what is lost.
   */
  | {
      readonly type: 'recovered';
      readonly channel: string;
      readonly target: ChannelTarget | undefined;
      readonly recovered: boolean;
    }
  /**
   * A client session whose server died or drained was adopted by this server. `replayed` frames were sent
   * to the client again (the unacknowledged ones, and in durable mode what its channels' logs held for it).
   * `complete: false` means messages may be missing: none of a durable log (outside durable mode, what was
   * published to the session after the last checkpoint, at `since`, is lost), or the log no longer held
   * them, or the order across its channels could not be told; `reason` says which.
   */
  | {
      readonly type: 'session-adopted';
      readonly connectionId: string;
      /** The server that held the session before. */
      readonly previousHolder: string;
      readonly replayed: number;
      readonly complete: boolean;
      /** When the record adopted was written (its checkpoint), Unix ms. */
      readonly since: number;
      readonly reason?: string;
    };

/** The `type` of a `BackplaneEvent`. */
export type BackplaneEventType = BackplaneEvent['type'];

/** What the outbox does when full: drop the oldest buffered message, or refuse the new one. */
export type OutboxPolicy = 'drop-oldest' | 'reject';

/** Which outbox bound was reached: the message count, the bytes, or the age of the oldest message. */
export type OverflowReason = 'count' | 'bytes' | 'age';
