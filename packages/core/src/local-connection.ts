import type { HubProtocol } from '@backplane/hub-protocol';

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
   * delivery to other connections.
   */
  write(frame: Uint8Array): void | Promise<void>;
}
