import type { HubMessage } from './hub-messages.js';

/** How a driver frames bytes: text (WebSocket text frames, SSE) or binary. */
export type TransferFormat = 'text' | 'binary';

/**
 * A SignalR hub protocol. `writeMessage` returns bytes already framed for the wire (JSON + 0x1E, or a
 * VarInt length prefix + MessagePack body), so a frame can be forwarded over the backplane untouched.
 */
export interface HubProtocol {
  /** The name in the handshake: `json` or `messagepack`. */
  readonly name: string;
  /** The highest protocol version this implementation speaks. */
  readonly version: number;
  readonly transferFormat: TransferFormat;
  isVersionSupported(version: number): boolean;
  /** Serializes and frames one message. */
  writeMessage(message: HubMessage): Uint8Array;
  /**
   * Parses every complete message in `data`. Unknown message types are skipped (forward compatibility);
   * malformed input throws a `ProtocolError`. Incomplete trailing bytes are an error: drivers deliver
   * whole frames.
   */
  parseMessages(data: Uint8Array): HubMessage[];
}
