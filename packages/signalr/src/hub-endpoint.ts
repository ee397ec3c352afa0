import type { IncomingMessage } from 'node:http';
import type { HubLifetimeManager, SessionRecord } from '@backplane/core';
import { ownerOfConnection } from '@backplane/core/internal';
import type { HubProtocol } from '@backplane/hub-protocol';
import type { Identity } from './auth.js';
import { type AuthorizationRule, authorizationRule, hubRefusal } from './authorization.js';
import type { ConnectionSettings } from './connection-settings.js';
import type { RedeemableTicket } from './connection-token.js';
import type { DispatcherSettings } from './dispatcher-settings.js';
import type { ForbiddenError, UnauthorizedError } from './errors.js';
import { asError, recoverFrom } from './guard.js';
import { TransportRequest } from './http-request.js';
import type { HubClass } from './hub.js';
import { type HubContextClients, hubContextClients } from './hub-clients.js';
import { type ConnectionEvents, HubConnectionContext } from './hub-connection-context.js';
import { HubDispatcher } from './hub-dispatcher.js';
import { Heartbeat, heartbeatPeriod } from './keep-alive.js';
import { relayThroughManager } from './relay/relay-handlers.js';
import { SessionSaver } from './session-saver.js';
import type { Admission } from './transport-admission.js';
import { TransportEndpoint } from './transport-endpoint.js';
import type { TransportSender } from './transport-sender.js';
import type { TransportSettings } from './transport-settings.js';
import { WriteBatcher } from './transports/write-batcher.js';

/** Settings of one hub (resolved defaults of `HubServerOptions` and its `HubOptions`). */
export interface EndpointSettings extends TransportSettings, ConnectionSettings, DispatcherSettings {}

/** One mapped hub: the transports of {@link TransportEndpoint}, the hub protocol and dispatch on top. */
export class HubEndpoint extends TransportEndpoint<HubConnectionContext> {
  readonly clients: HubContextClients;
  readonly #dispatcher: HubDispatcher;
  readonly #protocols: ReadonlyMap<string, HubProtocol>;
  readonly #heartbeat: Heartbeat;
  /** Who may connect (the hub class's `authorize`). */
  readonly #authorize: AuthorizationRule | undefined;

  constructor(
    path: string,
    hubClass: HubClass,
    readonly manager: HubLifetimeManager,
    protocols: readonly HubProtocol[],
    override readonly settings: EndpointSettings,
  ) {
    super(path, settings, {
      // Writes each connection's records of one event-loop iteration as one message.
      writer: new WriteBatcher(settings.stats, settings.log),
      // Whole frames up to this size are read; the record reader enforces the per-message limit inside them.
      maxPayload: Math.max(settings.maximumReceiveMessageSize * 4, 1_048_576),
      // A body may hold several messages; each is held to the limit by the connection's record reader.
      maxPostBody: settings.maximumReceiveMessageSize * 4 + 4_096,
      // A closed connection's last poll gets its Close message; after that, 404.
      announcePollEnd: false,
    });
    this.#protocols = new Map(protocols.map((p) => [p.name, p]));
    this.#authorize = authorizationRule(hubClass.authorize, `${hubClass.name || 'the hub class'}.authorize`);
    this.#dispatcher = new HubDispatcher(hubClass, manager, settings.log, settings);
    this.#heartbeat = new Heartbeat(heartbeatPeriod(settings), settings.log);
    this.clients = hubContextClients(manager);
    // Hub connection ids name their owner: HTTP transports reach it through the backplane.
    this.relayThrough(relayThroughManager(manager, path, this));
  }

  protected override get offersStatefulReconnect(): boolean {
    return this.settings.statefulReconnectBufferSize > 0;
  }

  protected override createConnectionId(): string {
    return this.manager.createConnectionId();
  }

  /** Hub connection ids name their owner: only an id this node minted is kept. */
  protected override keepsConnectionId(connectionId: string): boolean {
    return ownerOfConnection(connectionId) === this.manager.serverId;
  }

  protected override connect(
    key: string,
    admission: Admission,
    transport: TransportSender,
    request: TransportRequest,
  ): HubConnectionContext {
    return new HubConnectionContext(
      {
        key,
        connectionId: admission.connectionId,
        userIdentifier: admission.userId,
        claims: admission.claims,
        transport,
        request,
        statefulReconnect: admission.statefulReconnect,
      },
      this.#protocols,
      this.settings,
      this.#events,
      this.#heartbeat,
      this.settings.log,
    );
  }

  /** Sessions other nodes held, kept in the manager's session store (when this hub keeps sessions). */
  protected override findSession(key: string): Promise<SessionRecord | undefined> {
    if (!this.settings.keepSessions || this.settings.statefulReconnectBufferSize === 0)
      return Promise.resolve(undefined);
    return this.manager.sessions.load(key);
  }

  /**
   * A session another node held continues here: the same connection id, user and claims, no new
   * `onConnected` (the session never ended), its groups and what it may have missed from the record.
   */
  protected override adoptSession(
    key: string,
    record: SessionRecord,
    ticket: RedeemableTicket,
    transport: TransportSender,
    request: TransportRequest,
  ): HubConnectionContext {
    const connection = this.connect(
      key,
      {
        connectionId: record.connectionId,
        userId: record.userId,
        claims: ticket.claims,
        statefulReconnect: true,
        ticket,
      },
      transport,
      request,
    );
    const sessions = this.manager.sessions;
    connection.session = new SessionSaver(sessions, connection, this.settings.log);
    connection.resumeAdopted(record.protocol, record.acked, record.received, record.bound, async () => {
      const adoption = await sessions.adopt(connection, record);
      // The record names this node from now on (after the frames below are sent: they are unacked).
      connection.session?.changed();
      return adoption;
    });
    return connection;
  }

  /** Shutdown: a session this hub keeps moves to another node; any other connection is closed. */
  protected override async shutDown(connection: HubConnectionContext): Promise<void> {
    if (connection.session && (await connection.handOff())) return;
    connection.close(undefined, { allowReconnect: true });
  }

  protected override get authorizes(): boolean {
    return this.#authorize !== undefined;
  }

  /** Why the hub's `authorize` refuses `identity` (negotiate, or a socket without it), if it does. */
  protected override refusal(
    identity: Identity,
    req: IncomingMessage,
    url: URL,
  ): Promise<UnauthorizedError | ForbiddenError | undefined> | undefined {
    if (!this.#authorize) return undefined;
    return hubRefusal(this.#authorize, identity.claims, {
      userIdentifier: identity.userId,
      authenticated: this.settings.jwtSecret !== undefined,
      http: new TransportRequest(req, url, false),
      invocation: undefined,
    });
  }

  protected override stop(): void {
    this.#heartbeat.stop();
  }

  /** What every connection of this hub reports back (one object for all of them). */
  readonly #events: ConnectionEvents = {
    handshaken: async (c) => {
      await this.manager.onConnected(c);
      // Closed while registering: no onConnected (nor onDisconnected); #closed unregisters.
      if (c.closed) throw new Error('The connection closed during its handshake.');
      if (this.settings.keepSessions && c.checkpoint()) {
        c.session = new SessionSaver(this.manager.sessions, c, this.settings.log);
        c.session.changed();
      }
      await this.#dispatcher.connected(c);
    },
    // Neither may throw into the connection: a failing message ends its connection, a failing cleanup is logged.
    // (try/catch rather than guard(): no closures per message on the delivery path)
    message: (c, message) => {
      try {
        this.#dispatcher.dispatch(c, message);
      } catch (error) {
        recoverFrom(
          this.settings.log,
          'Hub message',
          error,
          () => c.close(asError(error)),
          () => ({ connectionId: c.connectionId }),
        );
      }
    },
    closed: (c, error) => {
      try {
        this.#closed(c, error);
      } catch (e) {
        recoverFrom(this.settings.log, 'Connection cleanup', e, undefined, () => ({
          connectionId: c.connectionId,
        }));
      }
    },
  };

  #closed(c: HubConnectionContext, error: Error | undefined): void {
    this.release(c);
    this.#dispatcher.connectionClosed(c);
    this.settings.log.debug('Connection closed', {
      connectionId: c.connectionId,
      transport: c.transport.kind,
      ...(error && { reason: error.message }),
    });
    this.track(this.#disconnected(c, error));
  }

  async #disconnected(connection: HubConnectionContext, error: Error | undefined): Promise<void> {
    try {
      if (!connection.ready) return; // the handshake never succeeded: nothing was registered
      const connected = await connection.ready;
      await this.manager.onDisconnected(connection);
      // A session handed to another node goes on there: its onDisconnected runs where it ends.
      if (connected && !connection.handedOff) await this.#dispatcher.disconnected(connection, error);
    } catch (e) {
      this.settings.log.warn('onDisconnected failed', { connectionId: connection.connectionId, error: e });
    } finally {
      this.#dispatcher.forget(connection);
    }
  }
}
