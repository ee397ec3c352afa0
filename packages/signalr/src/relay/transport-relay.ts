import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  AckTimeoutError,
  ClosedError,
  ConnectionNotFoundError,
  type Logger,
  RequestFailedError,
} from '@backplane/core';
import { guard } from '../guard.js';
import { ServerSentEventsSender } from '../transports/server-sent-events.js';
import type { Writer } from '../transports/write-batcher.js';
import {
  decodeForwardedAnswer,
  encodeForwardedRequest,
  type ForwardedAnswer,
  type ForwardedRequest,
} from './forwarded-http.js';

/**
 * How much a forwarded poll's answer carries at most, in bytes (whole records, at least one): it crosses
 * the broker as one message, and brokers bound those (NATS: 1 MiB by default).
 */
export const RELAYED_ANSWER_MAX_BYTES = 262_144;

/**
 * How much longer than `pollTimeout` the owner may take to answer a forwarded request, in ms (a poll is
 * answered empty after `pollTimeout`; a POST waits until the connection reads again).
 */
const ANSWER_MARGIN_MS = 5_000;

/** How a node reaches the owner of a connection (the hub's lifetime manager). */
export interface RelayLink {
  /** Whether `connectionId` (as negotiated, on any node) belongs to another node. */
  isRemote(connectionId: string): boolean;
  /** Sends `payload` to the owner of `connectionId`; resolves with its answer (see `HubLifetimeManager.request`). */
  request(connectionId: string, payload: Uint8Array, timeout: number): Promise<Uint8Array>;
}

export interface TransportRelaySettings {
  readonly pollTimeout: number;
  /** The largest POST body, in bytes: one byte more is forwarded, so the owner refuses it as it would its own. */
  readonly maxPostBody: number;
  readonly log: Logger;
}

/**
 * Serves the HTTP transports of a connection another node owns (no sticky sessions): each POST, poll and
 * DELETE is forwarded to the owner through the backplane and answered with the owner's answer. A
 * Server-Sent Events stream stays on this node, which polls the owner's buffer for it, one poll at a time,
 * and writes each answer as events.
 */
export class TransportRelay {
  readonly #link: RelayLink;
  readonly #settings: TransportRelaySettings;
  readonly #writer: Writer;

  constructor(link: RelayLink, settings: TransportRelaySettings, writer: Writer) {
    this.#link = link;
    this.#settings = settings;
    this.#writer = writer;
  }

  isRemote(connectionId: string): boolean {
    return this.#link.isRemote(connectionId);
  }

  /** A POST, a long poll or a DELETE: forwarded, and answered with the owner's answer. */
  async forward(req: IncomingMessage, res: ServerResponse, url: URL, path: string, connectionId: string) {
    const method = req.method as ForwardedRequest['method'];
    const forwarded = request(req, url, path, method, undefined); // before the body: an overlong one ends the socket
    const body = method === 'POST' ? await readBody(req, this.#settings.maxPostBody + 1) : forwarded.body;
    const answer = await this.#ask(connectionId, { ...forwarded, body });
    if (!res.writableEnded && !res.destroyed) res.writeHead(answer.status, answer.headers).end(answer.body);
  }

  /**
   * A Server-Sent Events stream for a connection of another node: the owner opens the connection (its
   * answer to the first request, an error is passed on as is), then this node polls for the stream until
   * the connection ends (204, or the owner is gone) or the client goes away (the owner is told).
   */
  async events(req: IncomingMessage, res: ServerResponse, url: URL, path: string, connectionId: string) {
    const opened = await this.#ask(connectionId, request(req, url, path, 'GET', 'open'));
    if (opened.status !== 200) return void res.writeHead(opened.status, opened.headers).end(opened.body);
    const poll = encodeForwardedRequest(request(req, url, path, 'GET', 'poll'));
    const sender = new ServerSentEventsSender(res, this.#writer);
    req.socket.setTimeout(0);
    let open = true;
    res.once(
      'close',
      guard(this.#settings.log, 'Relayed Server-Sent Events close', () => {
        if (!open) return;
        open = false;
        // The client went away: the owner ends the connection (its held poll answers 204).
        void this.#ask(connectionId, request(req, url, path, 'DELETE', 'poll'));
      }),
    );
    while (open) {
      const answer = await this.#ask(connectionId, poll, true);
      if (!open) return;
      if (answer.status === 200) {
        if (answer.body.byteLength > 0) sender.send(answer.body);
        continue;
      }
      open = false; // 204: the connection ended (its Close message came before); else the owner is lost
      sender.close();
    }
  }

  async #ask(connectionId: string, payload: Uint8Array | ForwardedRequest, quiet = false) {
    const bytes = payload instanceof Uint8Array ? payload : encodeForwardedRequest(payload);
    try {
      const answer = await this.#link.request(
        connectionId,
        bytes,
        this.#settings.pollTimeout + ANSWER_MARGIN_MS,
      );
      return decodeForwardedAnswer(answer) ?? failed(502, 'The connection server sent an unreadable answer.');
    } catch (error) {
      if (!quiet || !(error instanceof ConnectionNotFoundError))
        this.#settings.log.debug('A forwarded transport request failed', { connectionId, error });
      return answerFor(error);
    }
  }
}

function request(
  req: IncomingMessage,
  url: URL,
  path: string,
  method: ForwardedRequest['method'],
  events: ForwardedRequest['events'],
  body: Uint8Array = new Uint8Array(0),
): ForwardedRequest {
  return {
    method,
    path,
    search: url.search,
    rawHeaders: req.rawHeaders,
    remoteAddress: req.socket.remoteAddress,
    events,
    body,
  };
}

/** Reads a body up to `limit` bytes (what is past it is not read: the owner refuses the body anyway). */
async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes = chunk as Buffer;
    const room = limit - size;
    chunks.push(bytes.byteLength > room ? bytes.subarray(0, room) : bytes);
    size += Math.min(bytes.byteLength, room);
    if (size >= limit) break;
  }
  return Buffer.concat(chunks, size);
}

/** What the client is told when the owner could not be asked or did not answer. */
function answerFor(error: unknown): ForwardedAnswer {
  if (error instanceof ConnectionNotFoundError) return failed(404, 'No Connection with that ID');
  if (error instanceof AckTimeoutError) return failed(504, 'The connection server did not answer in time.');
  if (error instanceof RequestFailedError || error instanceof ClosedError)
    return failed(503, 'The connection server could not answer.');
  return failed(502, 'The connection server could not be reached.');
}

function failed(status: number, message: string): ForwardedAnswer {
  return { status, headers: { 'Content-Type': 'text/plain' }, body: Buffer.from(message) };
}
