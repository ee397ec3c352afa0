import { ClientStream, type StreamFlow } from './client-stream.js';
import { ClientStreamError } from './errors.js';
import type { HubConnectionContext } from './hub-connection-context.js';
import type { HubServerStats } from './hub-server-stats.js';
import { ReadHold } from './transport-sender.js';

/** The uploads of a call that names no client-to-server stream (most calls). */
export const NO_UPLOADS: readonly ClientStream[] = [];

/**
 * A connection's open client-to-server streams, by id, and the read hold they share: reading stops while
 * any of them is full and resumes once none is.
 */
export class ClientUploads implements StreamFlow {
  readonly #open = new Map<string, ClientStream>();
  /** Streams whose buffer is full. */
  #full = 0;

  constructor(
    readonly connection: HubConnectionContext,
    /** Items a stream holds before the connection stops reading. */
    readonly capacity: number,
    /** Counts the pauses. */
    readonly stats: HubServerStats,
  ) {}

  get(id: string): ClientStream | undefined {
    return this.#open.get(id);
  }

  /** Removes and returns the stream `id` (its client completed it). */
  take(id: string): ClientStream | undefined {
    const stream = this.#open.get(id);
    if (stream) this.#open.delete(id);
    return stream;
  }

  /** Opens a stream per id, or says which id is already open (nothing is opened then). */
  open(ids: readonly string[]): ClientStream[] | string {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (this.#open.has(id) || ids.indexOf(id) !== i) return `Stream ID '${id}' is already in use.`;
    }
    const capacity = this.capacity;
    return ids.map((id) => {
      const stream = new ClientStream(id, capacity, this);
      this.#open.set(id, stream);
      return stream;
    });
  }

  /** The method reading `streams` returned: they end (later items are ignored). */
  close(streams: readonly ClientStream[]): void {
    for (const stream of streams) {
      if (this.#open.get(stream.id) === stream) this.#open.delete(stream.id);
      stream.complete();
    }
  }

  /** The connection closed: every open stream throws in the method reading it. */
  closeAll(): void {
    const streams = [...this.#open.values()];
    this.#open.clear();
    for (const stream of streams) stream.complete(new ClientStreamError(stream.id, 'disconnected'));
  }

  full(): void {
    if (this.#full++ > 0) return;
    this.stats.receivePauses++;
    this.connection.pauseReceiving(ReadHold.ClientStreams);
  }

  drained(): void {
    if (--this.#full > 0) return;
    this.connection.resumeReceiving(ReadHold.ClientStreams);
  }
}
