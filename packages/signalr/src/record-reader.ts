import { ProtocolError, type TransferFormat } from '@backplane/hub-protocol';

const RECORD_SEPARATOR = 0x1e;
const MAX_VARINT_BYTES = 5;

/** SignalR's words for a client message over `MaximumReceiveMessageSize`. */
export function messageTooLarge(limit: number): ProtocolError {
  return new ProtocolError(
    `The maximum message size of ${limit}B was exceeded. The message size can be configured in HubServerOptions.maximumReceiveMessageSize.`,
  );
}

/**
 * Cuts the bytes a client sends into whole hub-protocol records, whatever the transport's framing: a record
 * may span several WebSocket frames or POSTs, a frame may hold several records. Enforces the per-message
 * limit (framing included) as soon as it is known to be exceeded, without buffering the excess.
 */
/** Shared by every reader with nothing pending (most of them, most of the time). */
const EMPTY = new Uint8Array(0);

export class RecordReader {
  #pending: Uint8Array = EMPTY;

  constructor(
    readonly format: TransferFormat,
    readonly limit: number,
  ) {}

  /**
   * Adds `data`; returns the complete records so far (framing kept, ready for `parseMessages`), or an empty
   * array. Throws `ProtocolError` when a message is over the limit.
   */
  push(data: Uint8Array): Uint8Array {
    const all = this.#pending.byteLength === 0 ? data : concat(this.#pending, data);
    const end = this.format === 'text' ? this.#textEnd(all) : this.#binaryEnd(all);
    this.#pending = end === all.byteLength ? EMPTY : all.slice(end);
    return all.subarray(0, end);
  }

  /**
   * Keeps `data` without cutting records out of it (the connection is not reading: see
   * `HubConnectionContext.pauseReceiving`); a later `push` returns them. Throws `ProtocolError` when a
   * message is over the limit, like `push`.
   */
  hold(data: Uint8Array): void {
    if (data.byteLength === 0) return;
    const all = this.#pending.byteLength === 0 ? new Uint8Array(data) : concat(this.#pending, data);
    if (this.format === 'text') this.#textEnd(all);
    else this.#binaryEnd(all);
    this.#pending = all;
  }

  /** Where the last complete text record ends; checks every record and the unterminated tail. */
  #textEnd(all: Uint8Array): number {
    let start = 0;
    let end = 0;
    for (;;) {
      const separator = all.indexOf(RECORD_SEPARATOR, start);
      if (separator < 0) break;
      if (separator + 1 - start > this.limit) throw messageTooLarge(this.limit);
      start = end = separator + 1;
    }
    if (all.byteLength - end > this.limit) throw messageTooLarge(this.limit);
    return end;
  }

  /** Where the last complete binary record ends; a length prefix over the limit fails at once. */
  #binaryEnd(all: Uint8Array): number {
    let offset = 0;
    while (offset < all.byteLength) {
      let length = 0;
      let size = 0;
      let byte = 0x80;
      while (byte & 0x80) {
        if (size === MAX_VARINT_BYTES) throw new ProtocolError('Messages bigger than 2GB are not supported.');
        if (offset + size >= all.byteLength) return offset; // the prefix itself is incomplete
        byte = all[offset + size]!;
        length += (byte & 0x7f) * 2 ** (7 * size);
        size++;
      }
      if (size + length > this.limit) throw messageTooLarge(this.limit);
      if (offset + size + length > all.byteLength) return offset;
      offset += size + length;
    }
    return offset;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
