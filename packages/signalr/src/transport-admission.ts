import type { IncomingMessage } from 'node:http';
import { authenticate, type Identity } from './auth.js';
import type { RedeemableTicket } from './connection-token.js';
import { ConnectionTokenError, ShuttingDownError, UnauthorizedError } from './errors.js';
import type { TransportConnection } from './transport-connection.js';
import type { TransportSettings } from './transport-settings.js';

/** A transport request's identity and the connection it opens. */
export interface Admission extends Identity {
  readonly connectionId: string;
  readonly statefulReconnect: boolean;
  readonly ticket?: RedeemableTicket;
}

/** What admission asks of its endpoint. */
export interface AdmissionHost {
  /** Whether the endpoint is shutting down (it admits no one then). */
  closing(): boolean;
  /** A new connection id of this node. */
  createConnectionId(): string;
  /** Whether a connection id negotiated (on any node) can be kept by a connection this node opens. */
  keepsConnectionId(connectionId: string): boolean;
}

/**
 * Who may open or resume a transport of an endpoint's path: connection tokens from negotiate, checked again
 * with the access token under JWT authentication, and sockets without negotiate.
 */
export class TransportAdmission {
  constructor(
    readonly path: string,
    readonly settings: TransportSettings,
    readonly host: AdmissionHost,
  ) {}

  /** A connection without negotiate (WebSockets with `skipNegotiation`): authenticated here, given a new id. */
  admitAnonymousSocket(req: IncomingMessage, url: URL): Admission {
    if (this.host.closing()) throw new ShuttingDownError();
    const identity = { ...authenticate(req, url, this.settings), statefulReconnect: false };
    return { ...identity, connectionId: this.host.createConnectionId() };
  }

  /**
   * Opens a connection with a token from negotiate (on any node). The connection keeps negotiate's id
   * when it can (a hub: when this node minted it; a token negotiated on another node gets an id of this
   * node, since hub connection ids name their owner). A token opens one connection per node.
   */
  redeem(req: IncomingMessage, url: URL, token: string): Admission {
    if (this.host.closing()) throw new ShuttingDownError();
    const ticket = this.settings.tokens.read(token);
    if (
      !ticket ||
      ticket.hub !== this.path ||
      ticket.expiresAt < Date.now() ||
      this.settings.redeemed.has(ticket)
    )
      throw new ConnectionTokenError();
    this.#checkBearer(req, url, ticket.userId);
    return {
      userId: ticket.userId,
      claims: ticket.claims,
      statefulReconnect: ticket.statefulReconnect,
      connectionId: this.host.keepsConnectionId(ticket.connectionId)
        ? ticket.connectionId
        : this.host.createConnectionId(),
      ticket,
    };
  }

  /**
   * A stateful reconnect: a new WebSocket for `existing`, found by its token's key. The whole token is
   * checked again, except its expiry (a resume may come after the token could no longer open a connection,
   * as in SignalR): it must be authentic and name this path, this connection and its user. An access token
   * sent with it must be valid and name the same user. Throws like {@link redeem}.
   */
  checkResume(req: IncomingMessage, url: URL, token: string, existing: TransportConnection): void {
    const ticket = this.settings.tokens.read(token);
    // A ticket negotiated on another node names that node's id; this node gave the connection its own.
    const kept = ticket !== undefined && this.host.keepsConnectionId(ticket.connectionId);
    if (
      !ticket ||
      ticket.hub !== this.path ||
      ticket.userId !== existing.userIdentifier ||
      (kept && ticket.connectionId !== existing.connectionId)
    )
      throw new ConnectionTokenError();
    this.#checkBearer(req, url, existing.userIdentifier);
  }

  /**
   * A WebSocket that takes over a session another node held (its record found under the token's key): the
   * token must be authentic, name this path and the session's user, and an access token sent with it must
   * be valid for that user. Its expiry does not count (as for a resume). Throws like {@link redeem}.
   */
  checkAdoption(req: IncomingMessage, url: URL, token: string, userId: string | undefined): RedeemableTicket {
    if (this.host.closing()) throw new ShuttingDownError();
    const ticket = this.settings.tokens.read(token);
    if (!ticket?.statefulReconnect || ticket.hub !== this.path || ticket.userId !== userId)
      throw new ConnectionTokenError();
    this.#checkBearer(req, url, userId);
    return ticket;
  }

  /**
   * With JWT authentication, a request that opens or resumes a transport needs a valid access token naming
   * `userId`, as every request to a hub that requires authorization does in ASP.NET Core (the connection
   * token alone is not enough). Polls and sends of an open connection are authenticated by its connection
   * token.
   */
  #checkBearer(req: IncomingMessage, url: URL, userId: string | undefined): void {
    if (!this.settings.jwtSecret) return;
    const identity = authenticate(req, url, this.settings);
    if (identity.userId !== userId)
      throw new UnauthorizedError('The access token does not match the connection.', { invalidToken: true });
  }
}
