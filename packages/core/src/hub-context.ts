import type { HubProtocol } from '@backplane/hub-protocol';
import { defaultProtocols } from '@backplane/hub-protocol';
import { type Observable, of, Subject, type Subscription, tap } from 'rxjs';
import { BackplaneSpans } from './backplane-tracing.js';
import { Channels } from './channels.js';
import { type Driver, isDurableDriver } from './driver.js';
import { InvalidArgumentError } from './errors.js';
import { createEpoch, createNodeId } from './ids.js';
import { createConsoleLogger } from './logger.js';
import { PresenceQueries, presenceAnswerHandler, presenceLimits } from './presence-query.js';
import type { HubPresence } from './presence-result.js';
import { Publisher } from './publisher.js';
import type { BackplaneEvent } from './resilience/events.js';
import { linkState, outageEvents } from './resilience/link-state.js';
import type { OutboxOptions } from './resilience/outbox.js';
import { PublishLink } from './resilience/publish-link.js';
import { type BackplaneStats, createStats, snapshotStats } from './stats.js';
import { CORE_TRACER, resolveTracing } from './tracing.js';
import type { TracingOptions } from './tracing-options.js';
import { nameLimits, requireGroupName, requireName, requireNodeId, requireUserId } from './validate.js';

/** Options of `HubContext`, the send-only handle for processes that hold no connections. */
export interface HubContextOptions {
  /** The driver; connected by `start()`, closed by `close()`. */
  driver: Driver;
  /** Must match the hub servers' hub name (non-empty, no ':'). @default 'hub' */
  hub?: string;
  /** Must match the hub servers' prefix (one segment ending with ':', no other ':'). @default 'backplane:' */
  prefix?: string;
  /** Shown as the sender in logs; at most 247 characters. @default a random `node-xxxxxxxx` */
  nodeId?: string;
  /** Must cover every protocol the hub servers' clients use. @default [JSON, MessagePack] */
  protocols?: readonly HubProtocol[];
  /**
   * The longest group name a send accepts, in UTF-16 code units; longer ones are refused with
   * `LimitExceededError` before anything is published. Match the hub servers' setting.
   * @default 256
   */
  maxGroupNameLength?: number;
  /**
   * The longest user id a send accepts, in UTF-16 code units (`LimitExceededError` otherwise).
   * @default 256
   */
  maxUserIdLength?: number;
  /**
   * Buffer sends while the broker is unreachable (the driver's state says so) and flush them in order
   * when it is back, as the lifetime manager does; `false` makes a send fail with `BrokerError`.
   * @default {} (on: 10_000 messages, 16 MiB, 60 s, drop-oldest, flushed 1_000 ms after the link is back)
   */
  outbox?: OutboxOptions | false;
  /**
   * Durable mode: every invocation also lands in the driver's bounded log, so servers that missed it
   * replay it. Set it when the hub servers run in durable mode. Needs a durable driver
   * (`isDurableDriver`); any other is refused with `InvalidArgumentError` here.
   * @default false
   */
  durable?: boolean;
  /**
   * How long a presence query (`context.presence`) waits for the servers' answers by default, in ms
   * (see `HubLifetimeManagerOptions.presenceTimeout`).
   * @default 1_000
   */
  presenceTimeout?: number;
  /** The most ids read from one server's presence answer. @default 1_000 ids */
  maxPresenceResults?: number;
  /**
   * OpenTelemetry tracing, as the lifetime manager's `tracing` (docs/operations.md#tracing): a producer
   * span per send, a child of the active span (an HTTP request's, a job's), whose trace context the
   * envelope carries to the hub servers.
   * @default {} (on when `@opentelemetry/api` is installed, to its global tracer provider)
   */
  tracing?: TracingOptions | false;
}

/**
 * Publishes to a hub's clients from a process that holds no connections (an API worker, a cron job):
 * SignalR's `IHubContext`, socket.io's emitter. It subscribes to nothing. Its sends take the lifetime
 * manager's send path: the same publisher and publish link, so the outbox and durable mode apply alike.
 * Without a subscription there is no liveness probe: the driver's state alone says whether the broker is
 * reachable. Its first presence query (`presence`) subscribes it to its own inbox, where the servers'
 * answers arrive.
 */
export class HubContext {
  readonly nodeId: string;
  readonly serverId: string;
  readonly epoch: string;
  readonly #driver: Driver;
  readonly #link: PublishLink;
  readonly #publisher: Publisher;
  readonly #events = new Subject<BackplaneEvent>();
  #pipeline: Subscription | undefined;
  readonly #stats: BackplaneStats = createStats();
  readonly #maxGroupNameLength: number;
  readonly #maxUserIdLength: number;
  #started: Promise<void> | undefined;
  readonly #presence: PresenceQueries;
  #listening: Promise<void> | undefined;
  #closed = false;

  constructor(options: HubContextOptions) {
    this.#driver = options.driver;
    this.nodeId = requireNodeId(options.nodeId ?? createNodeId());
    this.epoch = createEpoch();
    this.serverId = `${this.nodeId}-${this.epoch.slice(0, 8)}`;
    const channels = new Channels(options.prefix ?? 'backplane:', options.hub ?? 'hub');
    ({ maxGroupNameLength: this.#maxGroupNameLength, maxUserIdLength: this.#maxUserIdLength } =
      nameLimits(options));
    const durable = options.durable ?? false;
    if (durable && !isDurableDriver(this.#driver))
      throw new InvalidArgumentError(
        `Durable mode needs a durable driver; '${this.#driver.name}' keeps no log.`,
      );
    this.#link = new PublishLink(this.#driver, { outbox: options.outbox ?? {} }, (event) =>
      this.#emit(event),
    );
    const tracing = resolveTracing(options.tracing, CORE_TRACER);
    const spans =
      tracing &&
      new BackplaneSpans(tracing, {
        system: this.#driver.name,
        channels,
        serverId: this.serverId,
        stats: this.#stats,
      });
    this.#publisher = new Publisher(
      this.#link,
      channels,
      this,
      options.protocols ?? defaultProtocols(),
      this.#stats,
    );
    this.#publisher.durable = durable;
    this.#publisher.spans = spans;
    const { presenceTimeout, maxPresenceResults } = presenceLimits(options);
    this.#presence = new PresenceQueries({
      serverId: this.serverId,
      epoch: this.epoch,
      channels,
      driver: this.#driver,
      stats: this.#stats,
      log: createConsoleLogger(this.nodeId),
      timeout: presenceTimeout,
      maxResults: maxPresenceResults,
      maxGroupNameLength: this.#maxGroupNameLength,
      maxUserIdLength: this.#maxUserIdLength,
      ready: () => (this.#listening ??= this.#listen(channels.server(this.serverId))),
      isClosed: () => this.#closed,
    });
  }

  /**
   * Who is online, asked of every server of the hub (see {@link HubPresence}). A context is no server: it
   * holds no connections, answers nothing and is never waited for.
   */
  get presence(): HubPresence {
    return this.#presence;
  }

  /** Starts and subscribes to this context's inbox, where presence answers arrive. */
  async #listen(inbox: string): Promise<void> {
    await this.start();
    this.#driver.setMessageHandler(presenceAnswerHandler(inbox, this.#presence, this.#stats));
    await this.#driver.subscribe(inbox);
  }

  get stats(): Readonly<BackplaneStats> {
    return { ...snapshotStats(this.#stats), buffered: this.#link.buffered, dropped: this.#link.dropped };
  }

  #emit(event: BackplaneEvent): void {
    if (event.type === 'outage-started') this.#stats.outages++;
    this.#events.next(event);
  }

  /** Outages of the driver's link, outbox overflows and flushes. */
  get events$(): Observable<BackplaneEvent> {
    return this.#events.asObservable();
  }

  /** Connects the driver. Idempotent; sends call it too. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      await this.#driver.connect();
      // The driver's state alone (no probe: a context subscribes to nothing) opens and shuts the link.
      const link$ = linkState(this.#driver.state$, of(true)).pipe(tap((link) => this.#link.setUp(link.up)));
      this.#pipeline = outageEvents(link$, Date.now).subscribe((event) => this.#emit(event));
    })();
    return this.#started;
  }

  async sendAll(method: string, args: readonly unknown[]): Promise<void> {
    await this.start();
    await this.#publisher.all(this.#publisher.serialize(method, args));
  }

  async sendAllExcept(
    method: string,
    args: readonly unknown[],
    excludedConnectionIds: readonly string[],
  ): Promise<void> {
    await this.start();
    await this.#publisher.all(this.#publisher.serialize(method, args), excludedConnectionIds);
  }

  sendConnection(connectionId: string, method: string, args: readonly unknown[]): Promise<void> {
    return this.sendConnections([connectionId], method, args);
  }

  async sendConnections(
    connectionIds: readonly string[],
    method: string,
    args: readonly unknown[],
  ): Promise<void> {
    for (const id of connectionIds) requireName(id, 'Connection id');
    await this.start();
    await this.#publisher.connections(connectionIds, this.#publisher.serialize(method, args));
  }

  sendGroup(groupName: string, method: string, args: readonly unknown[]): Promise<void> {
    return this.sendGroupExcept(groupName, method, args, []);
  }

  async sendGroupExcept(
    groupName: string,
    method: string,
    args: readonly unknown[],
    excludedConnectionIds: readonly string[],
  ): Promise<void> {
    requireGroupName(groupName, this.#maxGroupNameLength);
    await this.start();
    await this.#publisher.group(groupName, this.#publisher.serialize(method, args), excludedConnectionIds);
  }

  async sendGroups(groupNames: readonly string[], method: string, args: readonly unknown[]): Promise<void> {
    for (const name of groupNames) requireGroupName(name, this.#maxGroupNameLength);
    if (groupNames.length === 0) return;
    await this.start();
    await this.#publisher.groups(groupNames, this.#publisher.serialize(method, args));
  }

  sendUser(userId: string, method: string, args: readonly unknown[]): Promise<void> {
    return this.sendUsers([userId], method, args);
  }

  async sendUsers(userIds: readonly string[], method: string, args: readonly unknown[]): Promise<void> {
    for (const id of userIds) requireUserId(id, this.#maxUserIdLength);
    await this.start();
    await this.#publisher.users(userIds, this.#publisher.serialize(method, args));
  }

  /** Stops the link (what the outbox still holds is dropped) and closes the driver. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#presence.close();
    this.#pipeline?.unsubscribe();
    this.#link.close();
    await this.#driver.close();
    this.#events.complete();
  }
}
