import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EndpointConnections } from './endpoint-connections.js';
import { UnauthorizedError } from './errors.js';
import { guard } from './guard.js';
import { refuse, text, transportNotSupported } from './http-answers.js';
import { TransportRequest } from './http-request.js';
import { messageTooLarge } from './record-reader.js';
import { RELAYED_ANSWER_MAX_BYTES } from './relay/transport-relay.js';
import type { Admission, TransportAdmission } from './transport-admission.js';
import type { TransportConnection } from './transport-connection.js';
import type { TransportSender } from './transport-sender.js';
import type { TransportSettings } from './transport-settings.js';
import { LongPollingSender } from './transports/long-polling.js';
import { ServerSentEventsSender } from './transports/server-sent-events.js';
import type { Writer } from './transports/write-batcher.js';

/** How an endpoint's HTTP transports read and hold bytes. */
export interface HttpTransportShape {
  /** Where the senders put what connections send. */
  readonly writer: Writer;
  /** The largest POST body, in bytes. */
  readonly maxPostBody: number;
  /** Long polling: a poll after the close gets 204 even when nothing was left for it. */
  readonly announcePollEnd: boolean;
}

/**
 * The HTTP transports' requests for connections this node holds: Server-Sent Events streams, long polls,
 * sends (POST) and ends (DELETE), and the Server-Sent Events streams another node holds for them.
 */
export class HttpTransports<C extends TransportConnection> {
  constructor(
    readonly connections: EndpointConnections<C>,
    readonly admission: TransportAdmission,
    readonly settings: TransportSettings,
    readonly shape: HttpTransportShape,
    /** Creates and registers a connection under `key` (`ConnectionTokens.keyOf` its token). */
    readonly accept: (
      key: string,
      admission: Admission,
      transport: TransportSender,
      request: TransportRequest,
    ) => C,
  ) {}

  /**
   * A Server-Sent Events stream another node holds for a connection of this one: `open` opens the
   * connection (buffered here like long polling), `poll` takes what its buffer holds (a DELETE ends it).
   */
  relayedEvents(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    token: string,
    key: string,
    step: 'open' | 'poll',
  ): void {
    const existing = this.connections.byToken.get(key);
    const relayed =
      existing?.transport.kind === 'ServerSentEvents' && existing.transport instanceof LongPollingSender;
    if (step === 'open') {
      if (req.method !== 'GET') return void res.writeHead(405, { Allow: 'GET' }).end();
      if (existing) return void text(res, 409, 'Connection already has a transport.');
      if (!this.settings.transports.has('ServerSentEvents'))
        return void text(res, 404, transportNotSupported('ServerSentEvents'));
      return void this.#openPolled(req, res, url, token, key, true);
    }
    if (req.method === 'DELETE') {
      if (relayed) existing!.close(undefined, { sendClose: false });
      this.connections.drainingPolls.delete(key);
      return void text(res, relayed ? 202 : 404, relayed ? '' : 'No Connection with that ID');
    }
    if (this.connections.pollDraining(key, res, RELAYED_ANSWER_MAX_BYTES)) return;
    if (!relayed) return void text(res, 404, 'No Connection with that ID');
    (existing!.transport as LongPollingSender).poll(res, RELAYED_ANSWER_MAX_BYTES);
  }

  serverSentEvents(req: IncomingMessage, res: ServerResponse, url: URL, token: string, key: string): void {
    if (this.connections.byToken.has(key)) return void text(res, 409, 'Connection already has a transport.');
    let admission: Admission;
    try {
      admission = this.admission.redeem(req, url, token);
    } catch (error) {
      return void refuse(res, error);
    }
    const connection = this.accept(
      key,
      admission,
      new ServerSentEventsSender(res, this.shape.writer),
      new TransportRequest(req, url, true),
    );
    req.socket.setTimeout(0);
    res.once(
      'close',
      guard(this.settings.log, 'Server-Sent Events close', () =>
        connection.close(undefined, { sendClose: false }),
      ),
    );
  }

  longPoll(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    token: string,
    key: string,
    maxBytes?: number,
  ): void {
    if (this.connections.pollDraining(key, res, maxBytes)) return;
    const existing = this.connections.byToken.get(key);
    if (existing) {
      if (existing.transport.kind !== 'LongPolling' || !(existing.transport instanceof LongPollingSender))
        return void text(res, 400, 'Connection uses another transport.');
      if (this.#refuseExpired(existing, res)) return;
      req.socket.setTimeout(0);
      existing.transport.poll(res, maxBytes);
      return;
    }
    this.#openPolled(req, res, url, token, key, false);
  }

  /**
   * Opens a connection whose bytes wait for polls: long polling, or a Server-Sent Events stream another
   * node holds (`relayedEvents`). The first poll answers at once: it tells the client the transport is up.
   */
  #openPolled(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    token: string,
    key: string,
    relayedEvents: boolean,
  ): void {
    let admission: Admission;
    try {
      admission = this.admission.redeem(req, url, token);
    } catch (error) {
      return void refuse(res, error);
    }
    let connection: C | undefined;
    const sender = new LongPollingSender(
      {
        pollTimeout: this.settings.pollTimeout,
        disconnectTimeout: this.settings.disconnectTimeout,
        announceEnd: this.shape.announcePollEnd,
        relayedEvents,
      },
      this.shape.writer,
      guard(this.settings.log, 'Long polling idle', () => connection?.close(undefined, { sendClose: false })),
    );
    connection = this.accept(key, admission, sender, new TransportRequest(req, url, false));
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': 0 }).end();
  }

  async post(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    const connection = this.connections.byToken.get(key);
    if (!connection || connection.closed) return void text(res, 404, 'No Connection with that ID');
    if (connection.transport.kind === 'WebSockets')
      return void text(res, 405, 'POST requests are not allowed for WebSocket connections.');
    if (connection.posting) return void text(res, 409, 'Another send request is in progress.');
    if (this.#refuseExpired(connection, res)) return;
    connection.posting = true;
    try {
      const limit = this.shape.maxPostBody;
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).byteLength;
        if (size > limit) {
          connection.close(messageTooLarge(this.settings.maximumReceiveMessageSize));
          return void text(res, 413, 'Payload too large.');
        }
        chunks.push(chunk as Buffer);
      }
      const binary = (req.headers['content-type'] ?? '').startsWith('application/octet-stream');
      connection.receive(Buffer.concat(chunks), binary);
      // Backpressure: while the connection does not read, this POST is not answered, and the client sends
      // nothing more meanwhile (one POST at a time; another gets 409).
      await connection.receiving();
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end();
    } finally {
      connection.posting = false;
    }
  }

  delete(res: ServerResponse, key: string): void {
    const connection = this.connections.byToken.get(key);
    if (!connection) {
      if (this.connections.drainingPolls.delete(key)) return void text(res, 202, '');
      return void text(res, 404, 'No Connection with that ID');
    }
    if (connection.transport.kind !== 'LongPolling')
      return void text(res, 400, 'Cannot terminate this connection using the DELETE endpoint.');
    connection.close(undefined, { sendClose: false });
    this.connections.drainingPolls.delete(key);
    text(res, 202, '');
  }

  /**
   * A poll or a send of an open connection after its JWT expired (`closeOnAuthenticationExpiration`): refused
   * as ASP.NET Core's per-request authentication refuses an expired token (401, `invalid_token`), and the
   * connection closed at once, as the heartbeat would close it within the second. True if refused.
   */
  #refuseExpired(connection: C, res: ServerResponse): boolean {
    if (!connection.authenticationExpired(Date.now())) return false;
    connection.close(new UnauthorizedError('The access token expired.'));
    refuse(res, new UnauthorizedError('Token expired.', { invalidToken: true }));
    return true;
  }
}
