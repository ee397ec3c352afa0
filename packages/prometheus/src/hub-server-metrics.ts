import type { HubServer, HubServerStats } from '@backplane/signalr';
import { transportLabel, UNKNOWN_METHOD } from './labels.js';
import type { MetricSet, Series } from './metric-set.js';
import type { ResolvedOptions } from './options.js';

/** Counters of `HubServerStats`, unlabeled: stats key, metric name (without prefix), help. */
const COUNTERS: ReadonlyArray<readonly [keyof HubServerStats, string, string]> = [
  [
    'framesSent',
    'frames_sent_total',
    'Messages written to hub clients (WebSocket messages, events, poll answers); one per connection per event-loop iteration at most.',
  ],
  [
    'recordsSent',
    'records_sent_total',
    'Hub messages in those frames; divided by frames_sent_total, the batch factor.',
  ],
  [
    'slowConsumerCloses',
    'slow_consumer_closes_total',
    'Connections closed because too many bytes waited to be sent to them.',
  ],
  [
    'receivePauses',
    'receive_pauses_total',
    'Times a connection stopped reading its client while its calls or stream items queued (backpressure).',
  ],
];

/** Registers the hub server's metrics in `set`. */
export function registerHubServerMetrics(
  set: MetricSet,
  hubServer: HubServer,
  options: ResolvedOptions,
): void {
  const connections = (value: (row: HubServerStats['connections'][number]) => number) => (): Series =>
    hubServer.stats.connections.map(
      (row) => [{ transport: transportLabel(row.transport), protocol: row.protocol }, value(row)] as const,
    );
  const labels = ['transport', 'protocol'];
  set.readGauges(
    'connections',
    'Hub connections this node holds now (handshake done), by transport and hub protocol.',
    labels,
    connections((row) => row.opened - row.closed),
  );
  set.readCounters(
    'connections_opened_total',
    'Hub connections whose handshake succeeded, by transport and hub protocol.',
    labels,
    connections((row) => row.opened),
  );
  set.readCounters(
    'connections_closed_total',
    'Hub connections that ended after their handshake, by transport and hub protocol.',
    labels,
    connections((row) => row.closed),
  );
  for (const [key, name, help] of COUNTERS) set.readCounter(name, help, () => hubServer.stats[key] as number);

  if (!options.measurements) return;
  const invocationLabels = ['hub', 'method', 'outcome'];
  const invocations = set.counter(
    'hub_invocations_total',
    `Hub method calls by hub path, method (${UNKNOWN_METHOD} for names the hub does not declare) and outcome (ok, error, unauthorized, invalid, canceled).`,
    invocationLabels,
  );
  const duration = set.histogram(
    'hub_invocation_duration_seconds',
    'Hub method calls (streams excepted), from when the call started to run to its completion, by hub, method and outcome.',
    invocationLabels,
    options.invocationBuckets,
  );
  set.feed(
    hubServer.measurements$.subscribe((measurement) => {
      if (measurement.type !== 'invocation') return;
      const labels = {
        hub: measurement.hub,
        method: measurement.method ?? UNKNOWN_METHOD,
        outcome: measurement.outcome,
      };
      invocations.inc(labels);
      if (!measurement.streaming) duration.observe(labels, measurement.durationMs / 1_000);
    }),
  );
}
