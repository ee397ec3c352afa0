import type { TransportKind } from './transport-sender.js';

/** Counters of one `HubServer`, all its hubs together, since it was made. */
export interface HubServerStats {
  /**
   * Connections closed because more than `transportMaxBufferSize` bytes were waiting to be sent to them (a
   * client that stopped reading).
   */
  slowConsumerCloses: number;
  /**
   * Times a connection stopped reading from its client because `maximumQueuedInvocationsPerClient` calls
   * were waiting (backpressure: it reads again once half of them have run) or a client-to-server stream
   * held `streamBufferCapacity` items (it reads again once the method has read half of them), or a
   * connection handler had `applicationMaxBufferSize` bytes unread (it reads again once it has read half).
   */
  receivePauses: number;
  /**
   * Messages written to hub clients: WebSocket messages, Server-Sent Events, long-poll answers. Hub
   * messages queued for one connection during one event-loop iteration leave as one. (Connection handlers'
   * messages are not counted.)
   */
  framesSent: number;
  /** Hub messages (records) in those; `recordsSent / framesSent` is the batch factor. */
  recordsSent: number;
  /**
   * Hub connections whose handshake succeeded, one row per transport and hub protocol seen: how many
   * opened and closed (open now: `opened - closed`). Connections of connection handlers are not counted.
   */
  connections: readonly ConnectionStats[];
}

/** Hub connections of one transport and one hub protocol (a row of `HubServerStats.connections`). */
export interface ConnectionStats {
  /** The transport, named as in negotiate. */
  readonly transport: TransportKind;
  /** The hub protocol's name, as in the handshake (`json`, `messagepack`). */
  readonly protocol: string;
  /** Connections whose handshake succeeded. */
  readonly opened: number;
  /** Those of them that have closed since. */
  readonly closed: number;
}

type MutableRow = { -readonly [K in keyof ConnectionStats]: ConnectionStats[K] };

/**
 * Counts hub connections opening and closing, by transport and protocol. The rows are few (three
 * transports times the protocols offered), so a row is found by a scan: nothing is allocated per
 * connection.
 */
export class ConnectionTally {
  readonly rows: MutableRow[] = [];

  opened(transport: TransportKind, protocol: string): void {
    this.#row(transport, protocol).opened++;
  }

  closed(transport: TransportKind, protocol: string): void {
    this.#row(transport, protocol).closed++;
  }

  #row(transport: TransportKind, protocol: string): MutableRow {
    for (const row of this.rows) if (row.transport === transport && row.protocol === protocol) return row;
    const row: MutableRow = { transport, protocol, opened: 0, closed: 0 };
    this.rows.push(row);
    return row;
  }
}

/** The server's counters; `connections` are `tally`'s rows (live: copy them for a snapshot). */
export function createHubServerStats(tally: ConnectionTally): HubServerStats {
  return { slowConsumerCloses: 0, receivePauses: 0, framesSent: 0, recordsSent: 0, connections: tally.rows };
}

/** A snapshot of `stats`, its connection rows copied. */
export function snapshotHubServerStats(stats: HubServerStats): HubServerStats {
  return { ...stats, connections: stats.connections.map((row) => ({ ...row })) };
}
