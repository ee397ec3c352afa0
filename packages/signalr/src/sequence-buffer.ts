import type { DeliverySource, UnackedFrame } from '@backplane/core';

/**
 * Stateful reconnect bookkeeping for one connection (SignalR Ack/Sequence). Sending: every sequenced
 * message gets the next id and is kept until the client acks it, bounded by `limitBytes`. Overflowing
 * drops the oldest unacked frames: while the client has not acked past them a resend could not be
 * complete, so the connection must not be resumed (it heals once an ack covers them). Receiving: ids are
 * implied by order; after a reconnect the client's `Sequence` rewinds them and repeats are dropped.
 */
export class SequenceBuffer {
  readonly #limitBytes: number;
  #frames: Array<{ id: number; frame: Uint8Array; source: DeliverySource | undefined }> = [];
  #bytes = 0;
  #sent = 0;
  /** The highest id dropped from the buffer unacked (0: none). */
  #droppedThrough = 0;
  #acked = 0;
  #nextReceive = 1;
  #latestReceived = 0;
  /** An adopted session: the client's first `Sequence` may skip what its old server handled unrecorded. */
  #adopted = false;

  constructor(limitBytes: number) {
    this.#limitBytes = limitBytes;
  }

  /**
   * The buffer of a session adopted from another server: the client acknowledged `acked` messages, and
   * `received` of its messages were handled there.
   */
  static adopted(limitBytes: number, acked: number, received: number): SequenceBuffer {
    const buffer = new SequenceBuffer(limitBytes);
    buffer.#sent = acked;
    buffer.#acked = acked;
    buffer.#nextReceive = received + 1;
    buffer.#latestReceived = received;
    buffer.#adopted = true;
    return buffer;
  }

  /** The last id sent (or kept while detached). */
  get lastSent(): number {
    return this.#sent;
  }

  /** The last id the client acknowledged. */
  get acked(): number {
    return this.#acked;
  }

  /** The frames sent and not acknowledged, oldest first, with where they came from. */
  unacked(): UnackedFrame[] {
    return this.#frames.map(({ frame, source }) => ({ frame, source }));
  }

  /** A resend after reconnecting would miss messages: resume is impossible. */
  get overflowed(): boolean {
    return this.#droppedThrough > this.#acked;
  }

  /** Bytes held for a resend. */
  get bufferedBytes(): number {
    return this.#bytes;
  }

  /** The id of the last sequenced message received (what an Ack reports). */
  get latestReceived(): number {
    return this.#latestReceived;
  }

  /** Records a sequenced frame sent (or that would have been sent while detached). */
  sent(frame: Uint8Array, source?: DeliverySource): void {
    this.#frames.push({ id: ++this.#sent, frame, source });
    this.#bytes += frame.byteLength;
    while (this.#bytes > this.#limitBytes && this.#frames.length > 0) {
      const dropped = this.#frames.shift()!;
      this.#bytes -= dropped.frame.byteLength;
      this.#droppedThrough = dropped.id;
    }
  }

  /** The client has everything up to `sequenceId`. */
  ack(sequenceId: number): void {
    if (sequenceId > this.#acked) this.#acked = Math.min(sequenceId, this.#sent);
    let drop = 0;
    while (drop < this.#frames.length && this.#frames[drop]!.id <= sequenceId) {
      this.#bytes -= this.#frames[drop]!.frame.byteLength;
      drop++;
    }
    if (drop) this.#frames = this.#frames.slice(drop);
  }

  /** What to send after a reconnect: `Sequence{sequenceId}`, then `frames`. */
  resend(): { sequenceId: number; frames: Uint8Array[] } {
    return {
      sequenceId: this.#frames[0]?.id ?? this.#sent + 1,
      frames: this.#frames.map((f) => f.frame),
    };
  }

  /** The client says its next message is `sequenceId`. False if that skips messages never received. */
  resetReceive(sequenceId: number): boolean {
    if (this.#adopted) {
      // Messages before `sequenceId` were acknowledged by the old server: handled there.
      this.#adopted = false;
      if (sequenceId > this.#nextReceive) {
        this.#nextReceive = sequenceId;
        this.#latestReceived = sequenceId - 1;
        return true;
      }
    }
    if (sequenceId > this.#nextReceive) return false;
    this.#nextReceive = sequenceId;
    return true;
  }

  /** A sequenced message arrived: true if new, false if a repeat to drop. */
  received(): boolean {
    const id = this.#nextReceive++;
    if (id <= this.#latestReceived) return false;
    this.#latestReceived = id;
    return true;
  }
}
