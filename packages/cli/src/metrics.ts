import type { BackplaneStats, HubLifetimeManager } from '@backplane/core';
import type { HubServer, HubServerStats } from '@backplane/signalr';
import { Counter, Gauge, Registry } from 'prom-client';

/** Each counter of {@link BackplaneStats} as a Prometheus counter: name and help. */
const COUNTERS: ReadonlyArray<readonly [keyof BackplaneStats, string, string]> = [
  ['published', 'backplane_published_total', 'Envelopes handed to the broker.'],
  ['publishFailures', 'backplane_publish_failures_total', 'Publishes the broker refused.'],
  ['received', 'backplane_received_total', 'Envelopes received from the broker, valid or not.'],
  ['delivered', 'backplane_delivered_total', 'Frames written to local connections.'],
  ['malformed', 'backplane_malformed_total', 'Received payloads that were not valid envelopes (dropped).'],
  ['writeErrors', 'backplane_write_errors_total', 'Writes to a local connection that failed.'],
  ['protocolMismatches', 'backplane_protocol_mismatches_total', 'Invocations lacking a local protocol.'],
  ['ackTimeouts', 'backplane_ack_timeouts_total', 'Group commands to another server that got no ack.'],
  ['gaps', 'backplane_gap_messages_total', 'Messages other servers published that never arrived here.'],
  ['duplicates', 'backplane_duplicates_total', 'Messages received twice and dropped.'],
  ['dropped', 'backplane_outbox_dropped_total', 'Publishes the outbox dropped or refused.'],
  ['replayed', 'backplane_replayed_total', 'Durable mode: missed messages delivered from the log.'],
];

/** Each counter of {@link HubServerStats}. */
const HUB_COUNTERS: ReadonlyArray<readonly [keyof HubServerStats, string, string]> = [
  [
    'slowConsumerCloses',
    'backplane_slow_consumer_closes_total',
    'Connections closed because too many bytes waited to be sent to them.',
  ],
  [
    'receivePauses',
    'backplane_receive_pauses_total',
    'Times a connection stopped reading its client while its calls queued (backpressure).',
  ],
  [
    'framesSent',
    'backplane_frames_sent_total',
    'Messages written to clients (WebSocket messages, events, poll answers); one per connection per event-loop iteration at most.',
  ],
  [
    'recordsSent',
    'backplane_records_sent_total',
    'Hub messages written to clients; divided by backplane_frames_sent_total, the batch factor.',
  ],
];

/**
 * The `/metrics` registry of `backplane serve`: the lifetime manager's counters, the outbox depth, the
 * link state and the connections held, read when scraped. Labels carry no ids (bounded cardinality).
 */
export function serveMetrics(manager: HubLifetimeManager, hubs: HubServer): Registry {
  const registry = new Registry();
  const counters = [
    ...COUNTERS.map(([key, name, help]) => [name, help, () => manager.stats[key]] as const),
    ...HUB_COUNTERS.map(([key, name, help]) => [name, help, () => hubs.stats[key]] as const),
  ];
  for (const [name, help, read] of counters) {
    registry.registerMetric(
      new Counter({
        name,
        help,
        registers: [],
        collect() {
          this.reset();
          this.inc(read());
        },
      }),
    );
  }
  const gauges: ReadonlyArray<readonly [string, string, () => number]> = [
    ['backplane_outbox_buffered', 'Publishes waiting in the outbox now.', () => manager.stats.buffered],
    [
      'backplane_tracked_origins',
      'Sending servers whose message order this node tracks now (bounded).',
      () => manager.stats.trackedOrigins,
    ],
    ['backplane_link_up', '1 while the backplane link is up, else 0.', () => (manager.link.up ? 1 : 0)],
    ['backplane_connections', 'Client connections this node holds.', () => hubs.connectionCount()],
  ];
  for (const [name, help, read] of gauges) {
    registry.registerMetric(
      new Gauge({
        name,
        help,
        registers: [],
        collect() {
          this.set(read());
        },
      }),
    );
  }
  return registry;
}
