import { randomBytes } from 'node:crypto';
import { asError } from './guard.js';
import type { TransportRequest } from './http-request.js';
import { Heartbeat } from './keep-alive.js';
import {
  type ConnectionHandler,
  RawConnectionContext,
  type RawConnectionSettings,
} from './raw-connection.js';
import type { Admission } from './transport-admission.js';
import { TransportEndpoint } from './transport-endpoint.js';
import type { TransportSender } from './transport-sender.js';
import type { TransportSettings } from './transport-settings.js';
import { IMMEDIATE_WRITER } from './transports/write-batcher.js';

/** Settings of one connection handler (resolved defaults of `HubServerOptions` and its own options). */
export interface ConnectionHandlerSettings extends TransportSettings, RawConnectionSettings {}

/** How often expiring authentications are checked, in ms (as for hubs). */
const AUTHENTICATION_CHECK_MS = 1_000;

/**
 * A path mapped with `mapConnectionHandler`: the transports of {@link TransportEndpoint}, and raw messages
 * handed to `handler`, one call per connection. No handshake, no hub protocol, no keep-alive pings, no
 * stateful reconnect; each send is written at once (one WebSocket message or one event per send).
 */
export class ConnectionHandlerEndpoint extends TransportEndpoint<RawConnectionContext> {
  readonly #handler: ConnectionHandler;
  readonly #heartbeat: Heartbeat;

  constructor(
    path: string,
    handler: ConnectionHandler,
    override readonly settings: ConnectionHandlerSettings,
  ) {
    super(path, settings, {
      writer: IMMEDIATE_WRITER,
      maxPayload: settings.maximumReceiveMessageSize,
      maxPostBody: settings.maximumReceiveMessageSize,
      announcePollEnd: true,
    });
    this.#handler = handler;
    this.#heartbeat = new Heartbeat(AUTHENTICATION_CHECK_MS, settings.log);
  }

  protected override get offersStatefulReconnect(): boolean {
    return false;
  }

  /** 16 random bytes, as ASP.NET Core's connection ids. */
  protected override createConnectionId(): string {
    return randomBytes(16).toString('base64url');
  }

  /** Raw connection ids name no owner: negotiate's id is kept on any node. */
  protected override keepsConnectionId(): boolean {
    return true;
  }

  protected override connect(
    key: string,
    admission: Admission,
    transport: TransportSender,
    request: TransportRequest,
  ): RawConnectionContext {
    const connection = new RawConnectionContext(
      {
        key,
        connectionId: admission.connectionId,
        userIdentifier: admission.userId,
        claims: admission.claims,
        transport,
        request,
      },
      this.settings,
      this.#heartbeat,
      this.#closed,
    );
    this.track(this.#run(connection));
    return connection;
  }

  protected override stop(): void {
    this.#heartbeat.stop();
  }

  /** Runs the handler (once the endpoint has registered the connection), then ends the connection. */
  async #run(connection: RawConnectionContext): Promise<void> {
    await undefined;
    let failure: Error | undefined;
    try {
      await this.#handler(connection.handle);
    } catch (error) {
      failure = asError(error);
      this.settings.log.warn('Connection handler failed', { connectionId: connection.connectionId, error });
    }
    connection.close(failure);
  }

  readonly #closed = (connection: RawConnectionContext, error: Error | undefined): void => {
    this.release(connection);
    this.settings.log.debug('Connection closed', {
      connectionId: connection.connectionId,
      transport: connection.transport.kind,
      ...(error && { reason: error.message }),
    });
  };
}
