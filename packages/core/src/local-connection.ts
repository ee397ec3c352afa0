import type { HubProtocol } from '@backplane/hub-protocol';
import type { LogPosition } from './driver.js';

/**
 * Where a frame delivered from the backplane came from, in durable mode: its channel, its position, and
 * this server's log position on that channel just before the message (`undefined` before the channel had one). A
 * connection that keeps its session in the session store remembers it with each unacknowledged frame, so
 * another server can find those frames in the log again.
 */
export interface DeliverySource {
  readonly channel: string;
  /** The message's own position in the channel's log. */
  readonly position: LogPosition | undefined;
  readonly after: LogPosition | undefined;
}

/**
 * What the lifetime manager needs from a client connection held by this server. The hub server implements
 * it; so does the conformance suite's test client.
 */
export interface LocalConnection {
  /** Minted by `HubLifetimeManager#createConnectionId()`, so it names the owning server. */
  readonly connectionId: string;
  /** The user this connection belongs to; empty or undefined when anonymous. Compared ordinally. */
  readonly userIdentifier?: string | undefined;
  /** The hub protocol the connection negotiated; picks which pre-serialized payload it is sent. */
  readonly protocol: HubProtocol;
  /**
   * Writes one or more framed hub messages. A throw or a rejection is counted and logged; it never stops
   * delivery to other connections. `source`: in durable mode, where a frame from the backplane came from
   * (absent for sends of this server and outside durable mode).
   */
  write(frame: Uint8Array, source?: DeliverySource): void | Promise<void>;
  /** Called after the connection joined or left a group here (a session kept in the store saves it). */
  groupsChanged?(): void;
}
