import type { ChannelKind } from './channels.js';

/** A count per kind of channel. */
export type ChannelKindCounts = Record<ChannelKind, number>;

/** Counters a manager keeps since it started. All are message counts unless named otherwise. */
export interface BackplaneStats {
  /** Envelopes handed to the driver. */
  published: number;
  /** `published`, by the kind of channel each went to. */
  publishedByKind: ChannelKindCounts;
  /** Publishes the driver rejected. */
  publishFailures: number;
  /** Envelopes received from the driver (valid or not). */
  received: number;
  /** `received`, by the kind of channel each came on. */
  receivedByKind: ChannelKindCounts;
  /** Frames written to local connections (one per connection per message). */
  delivered: number;
  /** Received payloads that were not valid envelopes: dropped. */
  malformed: number;
  /**
   * Received invocations whose trace context was malformed: delivered all the same, the trace context
   * ignored (see docs/protocol.md).
   */
  malformedTraceContexts: number;
  /** Writes to a local connection that threw or rejected. */
  writeErrors: number;
  /** Received invocations lacking the payload for a local connection's hub protocol. */
  protocolMismatches: number;
  /** Group commands to another server that got no ack in time. */
  ackTimeouts: number;
  /** Messages other servers published that never arrived here (sum of gap sizes). */
  gaps: number;
  /** Messages received twice (same origin, epoch, channel, seq) and dropped. */
  duplicates: number;
  /**
   * Times the link to the broker went down (driver state, or a liveness probe that did not come back): the
   * `outage-started` events of `events$`.
   */
  outages: number;
  /** Publishes waiting in the outbox now (a gauge). */
  buffered: number;
  /** Publishes the outbox dropped or refused (never published). */
  dropped: number;
  /** Durable mode: missed messages delivered from the log. */
  replayed: number;
  /**
   * Requests about a connection sent to the server that owns it (`request`: the hub server forwarding a
   * Server-Sent Events or long-polling request without sticky sessions).
   */
  requestsSent: number;
  /** Requests of this server (local or sent) that failed: not found, no answer in time, busy, refused. */
  requestFailures: number;
  /** Requests from other servers about this server's connections, answered. */
  requestsAnswered: number;
  /** Session records written to the session store (checkpoints of sessions a server could adopt). */
  sessionsSaved: number;
  /** Session store reads, writes or deletes that failed or were refused. */
  sessionStoreFailures: number;
  /** Sessions this server adopted from another (dead or draining) server. */
  sessionsAdopted: number;
  /**
   * Other senders (servers, hub contexts) this server keeps ordering state for now: a gauge, bounded by
   * `maxTrackedOrigins`.
   */
  trackedOrigins: number;
}

export function createStats(): BackplaneStats {
  return {
    published: 0,
    publishedByKind: kindCounts(),
    publishFailures: 0,
    received: 0,
    receivedByKind: kindCounts(),
    delivered: 0,
    malformed: 0,
    malformedTraceContexts: 0,
    writeErrors: 0,
    protocolMismatches: 0,
    ackTimeouts: 0,
    gaps: 0,
    duplicates: 0,
    outages: 0,
    buffered: 0,
    dropped: 0,
    replayed: 0,
    requestsSent: 0,
    requestFailures: 0,
    requestsAnswered: 0,
    sessionsSaved: 0,
    sessionStoreFailures: 0,
    sessionsAdopted: 0,
    trackedOrigins: 0,
  };
}

function kindCounts(): ChannelKindCounts {
  return { all: 0, group: 0, user: 0, server: 0, presence: 0, other: 0 };
}

/** A snapshot of `stats`: the counts by kind copied, so the snapshot does not move with the counters. */
export function snapshotStats(stats: BackplaneStats): BackplaneStats {
  return {
    ...stats,
    publishedByKind: { ...stats.publishedByKind },
    receivedByKind: { ...stats.receivedByKind },
  };
}
