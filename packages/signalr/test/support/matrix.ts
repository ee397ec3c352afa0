import { it } from 'vitest';
import type { ProtocolName, TransportName } from '../two-nodes.js';

/** One transport with one hub protocol, as the official client is configured. */
export interface Combination {
  transport: TransportName;
  protocol: ProtocolName;
}

export const TRANSPORTS: readonly TransportName[] = ['WebSockets', 'ServerSentEvents', 'LongPolling'];
export const PROTOCOLS: readonly ProtocolName[] = ['json', 'messagepack'];

/**
 * Why Server-Sent Events never carry MessagePack: an event stream is text, so the official client refuses a
 * binary hub protocol over it and negotiate offers Server-Sent Events for text only, as ASP.NET Core does.
 */
export const SSE_CARRIES_TEXT_ONLY =
  'Server-Sent Events carry text only, so no MessagePack (as in ASP.NET Core)';

/** Every transport with every hub protocol it can carry: what `describe.each` runs. */
export const MATRIX: readonly Combination[] = TRANSPORTS.flatMap((transport) =>
  PROTOCOLS.filter((protocol) => transport !== 'ServerSentEvents' || protocol === 'json').map((protocol) => ({
    transport,
    protocol,
  })),
);

/** Records the combination the matrix leaves out, skipped with its reason, under `area`. */
export function skipUnsupportedCombinations(area: string): void {
  it.skip(`${area} - ServerSentEvents with messagepack: ${SSE_CARRIES_TEXT_ONLY}`, () => {});
}
