import type { TransportKind } from '@backplane/signalr';

/** The `method` label of a call to a method the hub does not declare: a client cannot make new series. */
export const UNKNOWN_METHOD = '(unknown)';

/** The `transport` label: `websockets`, `serversentevents`, `longpolling`. */
export function transportLabel(transport: TransportKind): string {
  return transport.toLowerCase();
}
