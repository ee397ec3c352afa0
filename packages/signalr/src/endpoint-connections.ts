import type { ServerResponse } from 'node:http';
import type { TransportConnection } from './transport-connection.js';
import { LongPollingSender } from './transports/long-polling.js';

/**
 * The connections an endpoint holds on this node, by the key of their token, and the closed long-polling
 * connections whose last bytes still wait for a poll.
 */
export class EndpointConnections<C extends TransportConnection> {
  /** Connections by the key of their token (`ConnectionTokens.keyOf`; every transport addresses them by token). */
  readonly byToken = new Map<string, C>();
  /** Closed long-polling connections whose last bytes (a Close message) the client has not polled yet. */
  readonly drainingPolls = new Map<string, LongPollingSender>();

  constructor(
    /** How long a closed connection's last bytes wait for a poll, in milliseconds. */
    readonly disconnectTimeout: number,
  ) {}

  /**
   * A connection ended: unregisters it (a long-polling one whose last bytes wait for a poll stays reachable
   * for that poll, `disconnectTimeout` at most).
   */
  release(c: C): void {
    const key = c.key;
    if (this.byToken.get(key) === c) this.byToken.delete(key);
    if (c.transport instanceof LongPollingSender && c.transport.draining) {
      const sender = c.transport;
      this.drainingPolls.set(key, sender);
      setTimeout(() => {
        if (this.drainingPolls.get(key) === sender) this.drainingPolls.delete(key);
      }, this.disconnectTimeout).unref();
    }
  }

  /** Answers a poll with what a closed connection left under `key`, if it left anything; true if answered. */
  pollDraining(key: string, res: ServerResponse, maxBytes?: number): boolean {
    const draining = this.drainingPolls.get(key);
    if (!draining) return false;
    draining.poll(res, maxBytes);
    if (!draining.draining) this.drainingPolls.delete(key);
    return true;
  }
}
