import type { Logger } from '@backplane/core';
import type { AuthSettings } from './auth.js';
import type { ConnectionTokens, RedeemedTokens } from './connection-token.js';
import type { HubServerStats } from './hub-server-stats.js';
import type { TransportKind } from './transport-sender.js';

/** Settings of an endpoint's negotiate and transports (resolved defaults of the server's and its own options). */
export interface TransportSettings extends AuthSettings {
  readonly tokens: ConnectionTokens;
  readonly redeemed: RedeemedTokens;
  readonly connectionTokenTtl: number;
  /** The transports clients may use (negotiate lists only these; the others are refused with 404). */
  readonly transports: ReadonlySet<TransportKind>;
  readonly pollTimeout: number;
  readonly disconnectTimeout: number;
  readonly maximumReceiveMessageSize: number;
  readonly stats: HubServerStats;
  readonly log: Logger;
}
