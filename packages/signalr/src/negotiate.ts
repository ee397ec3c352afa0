/** A transport as negotiate lists it. */
export interface AvailableTransport {
  readonly transport: 'WebSockets' | 'ServerSentEvents' | 'LongPolling';
  readonly transferFormats: readonly ('Text' | 'Binary')[];
}

/** Listed in SignalR's order: the client takes the first it supports. */
export const AVAILABLE_TRANSPORTS: readonly AvailableTransport[] = [
  { transport: 'WebSockets', transferFormats: ['Text', 'Binary'] },
  { transport: 'ServerSentEvents', transferFormats: ['Text'] },
  { transport: 'LongPolling', transferFormats: ['Text', 'Binary'] },
];

/** The highest negotiate version this server speaks. */
export const NEGOTIATE_VERSION = 1;

/** The version to answer: `min(requested, 1)`; a missing or unreadable `negotiateVersion` is 0. */
export function negotiateVersion(url: URL): 0 | 1 {
  const requested = Number.parseInt(url.searchParams.get('negotiateVersion') ?? '0', 10);
  return Number.isFinite(requested) && requested >= NEGOTIATE_VERSION ? 1 : 0;
}

/**
 * The negotiate response body. v1: the public `connectionId` and the secret `connectionToken` (sent as
 * `id` on every transport request). v0: only `connectionId`, which is then also the `id`, so it carries
 * the token. `useStatefulReconnect` appears only when the client asked and the server allows it (the
 * JS client rejects it otherwise).
 */
export function negotiateResponse(
  version: 0 | 1,
  connectionId: string,
  connectionToken: string,
  statefulReconnect: boolean,
  transports: readonly AvailableTransport[] = AVAILABLE_TRANSPORTS,
): Record<string, unknown> {
  if (version === 0) return { connectionId: connectionToken, availableTransports: transports };
  return {
    connectionToken,
    connectionId,
    negotiateVersion: 1,
    availableTransports: transports,
    ...(statefulReconnect && { useStatefulReconnect: true }),
  };
}
