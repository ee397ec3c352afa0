import type { Channels } from './channels.js';
import type { Envelope, ReplyBody, ReplyOutcome, RequestBody } from './envelope.js';
import { AckTimeoutError, ClosedError, ConnectionNotFoundError, RequestFailedError } from './errors.js';
import { ownerOfConnection } from './ids.js';
import type { Logger } from './logger.js';
import type { Publisher } from './publisher.js';
import type { BackplaneStats } from './stats.js';
import { requireName } from './validate.js';

/**
 * How much longer than the owner's time to answer (`timeout`) the asking server waits for the reply, in
 * ms: the owner answers within `timeout` of the request's arrival, the reply needs the broker once more.
 */
export const REPLY_GRACE_MS = 5_000;

/**
 * How often pending requests are checked against presence, in ms: a request to a server found gone since
 * it was sent fails then with `ConnectionNotFoundError` instead of waiting out its deadline.
 */
const GONE_CHECK_MS = 1_000;

/** A request to this server about one of its connections, as its handler sees it. */
export interface ConnectionRequest {
  /** The connection the request is about (one of this server's ids). */
  readonly connectionId: string;
  /** The asking server (`local` when it is this one). */
  readonly origin: string;
  /** What the asker sent (opaque to core). */
  readonly payload: Uint8Array;
  /** Aborted when the answer would come too late (the request's `timeout` after it arrived) or on close. */
  readonly signal: AbortSignal;
}

/**
 * Answers a {@link ConnectionRequest}: the answer's bytes, or `undefined` when the connection is not here
 * (the asker gets `ConnectionNotFoundError`). A throw fails the request with `RequestFailedError`.
 */
export type ConnectionRequestHandler = (request: ConnectionRequest) => Promise<Uint8Array | undefined>;

/** Options of `HubLifetimeManager.request`. */
export interface RequestOptions {
  /** How long the owner may take to answer, in ms; the asker waits 5 s more (`REPLY_GRACE_MS`). */
  readonly timeout: number;
}

export interface ConnectionRequestsOptions {
  readonly serverId: string;
  readonly channels: Channels;
  readonly publisher: Pick<Publisher, 'publish'>;
  readonly log: Logger;
  /** Counts requests sent, failed and answered. */
  readonly stats: Pick<BackplaneStats, 'requestsSent' | 'requestFailures' | 'requestsAnswered'>;
  /** See `HubLifetimeManagerOptions.maxPendingRequests`: asked and answered, each. */
  readonly maxPending: number;
  /** Whether a connection of another server is known to exist nowhere (see `Presence.isConnectionGone`). */
  readonly isConnectionGone: (connectionId: string) => boolean;
  /** Starts the manager if it is not ready yet (`undefined` when it is). */
  readonly ensureStarted: () => Promise<void> | undefined;
}

interface Pending {
  readonly connectionId: string;
  readonly owner: string;
  resolve(answer: Uint8Array): void;
  reject(error: Error): void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Requests about a connection, answered by the server that owns it (known from the connection id): a
 * `request` envelope on the owner's inbox, a `reply` on the asker's. Bounded on both sides (pending
 * requests asked, requests being answered), each with a deadline; what the bytes mean is the handler's.
 */
export class ConnectionRequests {
  readonly #options: ConnectionRequestsOptions;
  readonly #pending = new Map<number, Pending>();
  /** Requests this server is answering, so `close` can abort them. */
  readonly #answering = new Set<AbortController>();
  #handler: ConnectionRequestHandler | undefined;
  #nextId = 0;
  #closed = false;
  #goneCheck: NodeJS.Timeout | undefined;

  constructor(options: ConnectionRequestsOptions) {
    this.#options = options;
  }

  set handler(handler: ConnectionRequestHandler | undefined) {
    this.#handler = handler;
  }

  /** See `HubLifetimeManager.request`. */
  async request(connectionId: string, payload: Uint8Array, options: RequestOptions): Promise<Uint8Array> {
    try {
      return await this.#request(connectionId, payload, options);
    } catch (error) {
      this.#options.stats.requestFailures++;
      throw error;
    }
  }

  async #request(connectionId: string, payload: Uint8Array, options: RequestOptions): Promise<Uint8Array> {
    const { serverId, channels, publisher, maxPending } = this.#options;
    requireName(connectionId, 'Connection id');
    if (this.#closed) throw new ClosedError('The lifetime manager');
    const starting = this.#options.ensureStarted();
    if (starting) await starting;
    const owner = ownerOfConnection(connectionId);
    if (owner === undefined || (owner !== serverId && this.#options.isConnectionGone(connectionId)))
      throw new ConnectionNotFoundError(connectionId);
    if (owner === serverId) {
      const answer = await this.#answer({ connectionId, origin: 'local', payload }, options.timeout);
      return settle(answer, connectionId);
    }
    if (this.#pending.size >= maxPending)
      throw new RequestFailedError('limit', `This server already waits for ${maxPending} requests.`);
    const id = ++this.#nextId;
    const wait = options.timeout + REPLY_GRACE_MS;
    const answer = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new AckTimeoutError(
            `A request for connection '${connectionId}' was not answered within ${wait} ms.`,
            wait,
          ),
        );
      }, wait);
      timer.unref();
      this.#pending.set(id, { connectionId, owner, resolve, reject, timer });
    });
    this.#goneCheck ??= setInterval(() => this.#failWhereGone(), GONE_CHECK_MS).unref();
    answer.catch(() => {}); // may fail (close) while the publish is awaited
    const body: RequestBody = { kind: 'request', id, connectionId, ttl: options.timeout, payload };
    let receivers: number | undefined;
    try {
      receivers = await publisher.publish(channels.server(owner), body);
    } catch (error) {
      this.#drop(id);
      throw error;
    }
    if (receivers === 0) {
      this.#drop(id);
      throw new ConnectionNotFoundError(connectionId);
    }
    this.#options.stats.requestsSent++;
    return answer;
  }

  /** A request from another server for one of this server's connections: answer it on its inbox. */
  async receiveRequest(request: Envelope & RequestBody): Promise<void> {
    const answer = await this.#answer(request, request.ttl);
    const reply: ReplyBody =
      answer instanceof Uint8Array
        ? { kind: 'reply', id: request.id, outcome: 'ok', payload: answer }
        : { kind: 'reply', id: request.id, outcome: answer };
    try {
      await this.#options.publisher.publish(this.#options.channels.server(request.origin), reply);
      this.#options.stats.requestsAnswered++;
    } catch (error) {
      this.#options.log.warn('Could not answer a request', { origin: request.origin, error });
    }
  }

  /** The owner's reply to a request of this server (late or unknown ids are ignored). */
  receiveReply(reply: ReplyBody): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#drop(reply.id);
    const outcome = reply.outcome === 'ok' ? 'error' : reply.outcome; // an ok reply always has a payload
    const answer = reply.payload ?? outcome;
    try {
      pending.resolve(settle(answer, pending.connectionId));
    } catch (error) {
      pending.reject(error as Error);
    }
  }

  /** Fails pending requests with `ClosedError` and aborts the ones being answered. */
  closeAll(): void {
    this.#closed = true;
    for (const [id, pending] of this.#pending) {
      this.#drop(id);
      pending.reject(new ClosedError('The lifetime manager'));
    }
    for (const controller of this.#answering) controller.abort(new ClosedError('The lifetime manager'));
  }

  async #answer(
    request: Pick<ConnectionRequest, 'connectionId' | 'origin' | 'payload'>,
    ttl: number,
  ): Promise<Uint8Array | Exclude<ReplyOutcome, 'ok'>> {
    const handler = this.#handler;
    if (!handler || this.#closed) return 'not-found';
    if (this.#answering.size >= this.#options.maxPending) return 'busy';
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), ttl);
    this.#answering.add(controller);
    try {
      const answer = await handler({ ...request, signal: controller.signal });
      return answer ?? 'not-found';
    } catch (error) {
      this.#options.log.error('Answering a request failed', {
        connectionId: request.connectionId,
        origin: request.origin,
        error,
      });
      return 'error';
    } finally {
      clearTimeout(timer);
      this.#answering.delete(controller);
    }
  }

  #drop(id: number): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    clearTimeout(pending.timer);
    this.#pending.delete(id);
    if (this.#pending.size === 0) {
      clearInterval(this.#goneCheck);
      this.#goneCheck = undefined;
    }
  }

  /** Pending requests to a server presence now knows is gone will not be answered: fail them. */
  #failWhereGone(): void {
    for (const [id, pending] of this.#pending) {
      if (!this.#options.isConnectionGone(pending.connectionId)) continue;
      this.#drop(id);
      pending.reject(new ConnectionNotFoundError(pending.connectionId));
    }
  }
}

/** The answer, or the error its outcome stands for. */
function settle(answer: Uint8Array | Exclude<ReplyOutcome, 'ok'>, connectionId: string): Uint8Array {
  if (answer instanceof Uint8Array) return answer;
  if (answer === 'not-found') throw new ConnectionNotFoundError(connectionId);
  if (answer === 'busy')
    throw new RequestFailedError('busy', `The server of connection '${connectionId}' is busy.`);
  throw new RequestFailedError('error', `The server of connection '${connectionId}' failed the request.`);
}
