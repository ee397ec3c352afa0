import type { BackplaneStats, ChannelKind, HubLifetimeManager } from '@backplane/core';
import type { MetricSet, Series } from './metric-set.js';
import type { ResolvedOptions } from './options.js';

/** The kinds of channel reported even before anything went there (`other` only once something did). */
const KINDS: readonly ChannelKind[] = ['all', 'group', 'user', 'server', 'presence'];

/** Counters of `BackplaneStats`, unlabeled: stats key, metric name (without prefix), help. */
const COUNTERS: ReadonlyArray<readonly [keyof BackplaneStats, string, string]> = [
  ['publishFailures', 'publish_failures_total', 'Publishes the broker refused.'],
  [
    'delivered',
    'delivered_total',
    'Hub messages written to local connections (one per connection per message).',
  ],
  ['writeErrors', 'write_errors_total', 'Writes to a local connection that failed.'],
  [
    'protocolMismatches',
    'protocol_mismatches_total',
    'Invocations received without a payload for a local connection’s hub protocol.',
  ],
  ['ackTimeouts', 'ack_timeouts_total', 'Group commands to another server that got no acknowledgement.'],
  ['outages', 'outages_total', 'Times the link to the broker went down.'],
  ['gaps', 'gap_messages_total', 'Messages other servers published that never arrived here.'],
  ['duplicates', 'duplicates_total', 'Messages received twice and dropped.'],
  ['dropped', 'outbox_dropped_total', 'Publishes the outbox dropped or refused (never published).'],
  ['replayed', 'replayed_total', 'Durable mode: missed messages delivered from the broker’s log.'],
  [
    'requestsSent',
    'requests_sent_total',
    'Requests about a connection sent to the server owning it (SSE and long polling without sticky sessions).',
  ],
  [
    'requestFailures',
    'request_failures_total',
    'Requests about a connection that failed (not found, no answer, busy).',
  ],
  [
    'requestsAnswered',
    'requests_answered_total',
    'Requests from other servers about this server’s connections, answered.',
  ],
  [
    'sessionsSaved',
    'sessions_saved_total',
    'Session records written to the session store (checkpoints another server could adopt).',
  ],
  [
    'sessionStoreFailures',
    'session_store_failures_total',
    'Session store reads, writes or deletes that failed.',
  ],
  [
    'sessionsAdopted',
    'sessions_adopted_total',
    'Client sessions taken over from another (dead or draining) server.',
  ],
  [
    'malformed',
    'malformed_total',
    'Payloads on the backplane’s channels that were not valid envelopes (dropped).',
  ],
  [
    'malformedTraceContexts',
    'malformed_trace_contexts_total',
    'Invocations received with a malformed trace context (delivered, the trace context ignored).',
  ],
];

/** Registers the lifetime managers' metrics in `set`, summed over `managers`. */
export function registerManagerMetrics(
  set: MetricSet,
  managers: readonly HubLifetimeManager[],
  options: ResolvedOptions,
): void {
  const total = (read: (stats: Readonly<BackplaneStats>) => number) => (): number => {
    let sum = 0;
    for (const manager of managers) sum += read(manager.stats);
    return sum;
  };
  const byKind =
    (read: (stats: Readonly<BackplaneStats>) => Readonly<Record<ChannelKind, number>>) => (): Series => {
      const counts: Record<string, number> = { all: 0, group: 0, user: 0, server: 0, presence: 0, other: 0 };
      for (const manager of managers)
        for (const [kind, count] of Object.entries(read(manager.stats))) counts[kind]! += count;
      const series: Array<readonly [Record<string, string>, number]> = KINDS.map((kind) => [
        { kind },
        counts[kind]!,
      ]);
      if (counts.other! > 0) series.push([{ kind: 'other' }, counts.other!]);
      return series;
    };

  set.readCounters(
    'published_total',
    'Envelopes handed to the broker (or to the outbox while it is unreachable), by kind of channel.',
    ['kind'],
    byKind((stats) => stats.publishedByKind),
  );
  set.readCounters(
    'received_total',
    'Envelopes received from the broker, valid or not, by kind of channel.',
    ['kind'],
    byKind((stats) => stats.receivedByKind),
  );
  for (const [key, name, help] of COUNTERS)
    set.readCounter(
      name,
      help,
      total((stats) => stats[key] as number),
    );
  const gauge = (name: string, help: string, read: () => number): void =>
    set.readGauges(name, help, [], () => [[{}, read()]]);
  gauge('link_up', '1 while the link to the broker is up (every manager’s, when several), else 0.', () =>
    managers.every((manager) => manager.link.up) ? 1 : 0,
  );
  gauge(
    'outbox_buffered',
    'Publishes waiting in the outbox now, for the broker to come back.',
    total((stats) => stats.buffered),
  );
  gauge(
    'tracked_origins',
    'Sending servers whose message order this node tracks now (bounded by maxTrackedOrigins).',
    total((stats) => stats.trackedOrigins),
  );

  if (!options.measurements) return;
  const publishDuration = set.histogram(
    'publish_duration_seconds',
    'Publishes the broker took, from the driver call to the broker’s reply, by kind of channel.',
    ['kind'],
    options.publishBuckets,
  );
  for (const manager of managers)
    set.feed(
      manager.measurements$.subscribe((measurement) => {
        if (measurement.type === 'publish' && measurement.ok)
          publishDuration.observe({ kind: measurement.kind }, measurement.durationMs / 1_000);
      }),
    );
}
