import type { CompletionMessage, HubProtocol } from '@backplane/hub-protocol';
import { type Observable, Subject } from 'rxjs';
import { AckTracker } from './ack-tracker.js';
import { BackplaneSpans } from './backplane-tracing.js';
import type { Channels } from './channels.js';
import { ClientInvocations } from './client-invocations.js';
import { ClientResults } from './client-results.js';
import {
  type ConnectionRequestHandler,
  ConnectionRequests,
  type RequestOptions,
} from './connection-requests.js';
import { type Driver, type DriverState, isDurableDriver } from './driver.js';
import { InvalidArgumentError } from './errors.js';
import { GroupCommands } from './group-commands.js';
import { createConnectionId, createEpoch } from './ids.js';
import { Inbound } from './inbound.js';
import type { LocalConnection } from './local-connection.js';
import { LocalConnections } from './local-connections.js';
import type { Logger } from './logger.js';
import {
  type GroupOptions,
  type HubLifetimeManagerOptions,
  type InvokeOptions,
  resolveManagerOptions,
} from './manager-options.js';
import type { BackplaneMeasurement } from './measurements.js';
import { Presence } from './presence.js';
import { PresenceQueries } from './presence-query.js';
import type { HubPresence } from './presence-result.js';
import { Publisher } from './publisher.js';
import type { BackplaneEvent } from './resilience/events.js';
import { GapDetector } from './resilience/gap-detector.js';
import { LinkMonitor } from './resilience/link-monitor.js';
import type { LinkState } from './resilience/link-state.js';
import { PublishLink } from './resilience/publish-link.js';
import { PublishMeter } from './resilience/publish-meter.js';
import { ReconcileBatcher } from './resilience/reconcile.js';
import { DurableReplay } from './resilience/replay.js';
import { SessionKeeper } from './sessions/session-keeper.js';
import { type BackplaneStats, createStats, snapshotStats } from './stats.js';
import { SubscriptionRegistry } from './subscription-registry.js';
import { CORE_TRACER, resolveTracing } from './tracing.js';
import { requireGroupName, requireName, requireUserId, requireUserIdentifier } from './validate.js';

/**
 * Keeps this server's connections, groups and users, and reaches every other server's through the
 * driver. The API mirrors ASP.NET Core SignalR's `HubLifetimeManager`.
 *
 * Sends deliver to local connections at once (never through the broker) and publish one envelope for the
 * other servers, which ignore their own echoes. Group and user channels are subscribed lazily, only while
 * this server has a member.
 *
 * This class is the facade: options, start and close, and the public API. The work is done by
 * `LocalConnections` (connections and delivery), `Inbound` (the receive path),
 * `GroupCommands`, `ClientInvocations`, `Presence`, `DurableReplay` and
 * `ReconcileBatcher`.
 */
export class HubLifetimeManager {
  readonly nodeId: string;
  readonly serverId: string;
  readonly epoch: string;
  readonly channels: Channels;

  readonly #driver: Driver;
  readonly #protocols: readonly HubProtocol[];
  readonly #log: Logger;
  readonly #stats: BackplaneStats = createStats();
  readonly #publisher: Publisher;
  readonly #inbox: string;
  readonly #connections: LocalConnections;
  readonly #acks = new AckTracker();
  readonly #results = new ClientResults();
  readonly #groupCommands: GroupCommands;
  readonly #invocations: ClientInvocations;
  readonly #requests: ConnectionRequests;
  readonly #inbound: Inbound;
  readonly #events = new Subject<BackplaneEvent>();
  readonly #measurements = new Subject<BackplaneMeasurement>();
  /** Per-origin ordering state: sequence numbers per channel and recent `sendGroups` batches. */
  readonly #gaps: GapDetector;
  readonly #link: PublishLink;
  readonly #monitor: LinkMonitor;
  /** Presence of the other servers: only where the driver cannot count receivers. */
  readonly #presence: Presence | undefined;
  readonly #queries: PresenceQueries;
  readonly #reconciler: ReconcileBatcher | undefined;
  readonly #maxGroupNameLength: number;
  readonly #maxUserIdLength: number;
  /** Durable mode: log positions per channel and replays of the driver's log. */
  readonly #replay: DurableReplay | undefined;
  readonly #sessions: SessionKeeper;
  #started: Promise<void> | undefined;
  #ready = false;
  #closed = false;

  constructor(options: HubLifetimeManagerOptions) {
    const t = options.driver;
    this.#driver = t;
    const resolved = resolveManagerOptions(options);
    this.nodeId = resolved.nodeId;
    this.epoch = createEpoch();
    this.serverId = `${this.nodeId}-${this.epoch.slice(0, 8)}`;
    const { channels, durable, reconcile } = resolved;
    this.channels = channels;
    this.#protocols = resolved.protocols;
    const log = resolved.logger;
    this.#log = log;
    const stats = this.#stats;
    this.#inbox = channels.server(this.serverId);
    this.#maxGroupNameLength = resolved.maxGroupNameLength;
    this.#maxUserIdLength = resolved.maxUserIdLength;
    const gaps = new GapDetector({ maxOrigins: resolved.maxTrackedOrigins });
    this.#gaps = gaps;
    if (durable && !isDurableDriver(t))
      throw new InvalidArgumentError(`Durable mode needs a durable driver; '${t.name}' keeps no log.`);
    const isClosed = () => this.#closed;
    const emit = (event: BackplaneEvent) => this.#emit(event);
    const common = { serverId: this.serverId, channels, log, stats, isClosed };
    this.#reconciler = reconcile
      ? new ReconcileBatcher({ ...common, reconcile, window: resolved.reconcileWindow })
      : undefined;
    const meter = new PublishMeter(channels, this.#measurements);
    this.#link = new PublishLink(t, { outbox: resolved.outbox, meter }, emit);
    const tracing = resolveTracing(options.tracing, CORE_TRACER);
    const spans =
      tracing && new BackplaneSpans(tracing, { system: t.name, channels, serverId: this.serverId, stats });
    const publisher = new Publisher(this.#link, channels, this, this.#protocols, stats);
    this.#publisher = publisher;
    publisher.durable = durable;
    publisher.spans = spans;
    this.#monitor = new LinkMonitor({
      ...common,
      driver: t,
      link: this.#link,
      publisher,
      inbox: this.#inbox,
      liveness: resolved.liveness,
      emit: (event) => {
        this.#emit(event);
        if (event.type === 'outage-ended') this.#replay?.replayAll();
      },
    });
    const replay =
      durable && isDurableDriver(t)
        ? new DurableReplay({
            ...common,
            driver: t,
            emit,
            process: (channel, payload, position, source) =>
              this.#inbound.process(channel, payload, position, source),
          })
        : undefined;
    this.#replay = replay;
    const subscriptions = new SubscriptionRegistry(
      t,
      (channel, error) => log.error('Subscription change failed', { channel, error }),
      (channel) => {
        gaps.forgetChannel(channel);
        replay?.forget(channel);
      },
    );
    if (replay) subscriptions.onSubscribed = (channel) => replay.baseline(channel);
    const results = this.#results;
    this.#presence = t.capabilities.receiverCount
      ? undefined
      : new Presence({
          ...common,
          driver: t,
          publisher,
          gaps,
          results,
          interval: resolved.presenceInterval,
          maxTrackedOrigins: resolved.maxTrackedOrigins,
          adopted: () => this.#connections.adopted(),
        });
    const connections = new LocalConnections({
      ...common,
      subscriptions,
      maxGroupsPerConnection: resolved.maxGroupsPerConnection,
      onAdopted: () => this.#presence?.announce(),
    });
    this.#connections = connections;
    const ensureStarted = () => (this.#ready ? undefined : this.start());
    this.#queries = PresenceQueries.forServer({
      ...common,
      ...resolved,
      epoch: this.epoch,
      driver: t,
      connections,
      roster: this.#presence,
      ready: ensureStarted,
    });
    // Gone connections are only known from presence; otherwise the publish's receiver count tells.
    const isConnectionGone = (connectionId: string) =>
      this.#presence?.isConnectionGone(connectionId) ?? false;
    const shared = { ...common, connections, publisher, isConnectionGone, ensureStarted };
    this.#groupCommands = new GroupCommands({
      ...shared,
      acks: this.#acks,
      ackTimeout: resolved.ackTimeout,
      maxGroupNameLength: this.#maxGroupNameLength,
    });
    this.#invocations = new ClientInvocations({ ...shared, results });
    this.#requests = new ConnectionRequests({ ...shared, maxPending: resolved.maxPendingRequests });
    this.#sessions = new SessionKeeper({ ...shared, driver: t, replay, emit, ttl: resolved.sessionTtl });
    this.#inbound = new Inbound({
      ...shared,
      epoch: this.epoch,
      inbox: this.#inbox,
      gaps,
      groupCommands: this.#groupCommands,
      invocations: this.#invocations,
      requests: this.#requests,
      replay,
      emit,
      onActivity: () => this.#monitor.activity(),
      onProbeAnswer: (id) => this.#monitor.probeAnswered(id),
      onHeartbeat: (serverId, interval, adopted) => this.#presence?.heard(serverId, interval, adopted),
      onPresenceQuery: (query) => this.#queries.receiveQuery(query),
      onPresenceAnswer: (answer) => this.#queries.receiveAnswer(answer),
      spans,
    });
  }

  /**
   * What the resilience pipeline reports: outages, gaps (messages that never arrived, naming the group
   * or user), outbox overflows and flushes. Every loss the backplane knows of is an event here.
   */
  get events$(): Observable<BackplaneEvent> {
    return this.#events.asObservable();
  }

  /**
   * One value per publish to the broker (its channel kind, outcome and duration), for latency
   * histograms. Opt-in: publishes are timed only while something subscribes, so an app that does not
   * pays nothing for it. The counters are in `stats`.
   */
  get measurements$(): Observable<BackplaneMeasurement> {
    return this.#measurements.asObservable();
  }

  /** Whether the broker is usable now (driver state and liveness probe combined). */
  get link(): LinkState {
    return this.#monitor.state;
  }

  /** The driver's link state. */
  get state$(): Observable<DriverState> {
    return this.#driver.state$;
  }

  get state(): DriverState {
    return this.#driver.state;
  }

  /** A snapshot of the counters. */
  get stats(): Readonly<BackplaneStats> {
    return {
      ...snapshotStats(this.#stats),
      buffered: this.#link.buffered,
      dropped: this.#link.dropped,
      trackedOrigins: this.#gaps.origins,
    };
  }

  /**
   * The hub protocols every send is serialized for. A hub server must offer its clients no other: a client
   * speaking one the manager does not serialize for would receive nothing from other servers.
   */
  get protocols(): readonly HubProtocol[] {
    return this.#protocols;
  }

  /** Number of connections this server holds. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Who is online on every server of the hub, asked of each server (see {@link HubPresence}). */
  get presence(): HubPresence {
    return this.#queries;
  }

  /** Client sessions kept in the driver's session store, for adoption by another server (see {@link SessionKeeper}). */
  get sessions(): SessionKeeper {
    return this.#sessions;
  }

  /** Connects the driver and subscribes to `all`, this server's inbox and presence queries. Idempotent. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      this.#driver.setMessageHandler(this.#inbound.receive);
      await this.#driver.connect();
      await Promise.all(
        [this.channels.all, this.#inbox, this.channels.presenceQuery].map((c) => this.#driver.subscribe(c)),
      );
      const startedAt = Date.now();
      const replay = this.#replay;
      if (replay) await Promise.all([replay.baseline(this.channels.all), replay.baseline(this.#inbox)]);
      if (this.#presence) await this.#presence.start(startedAt);
      this.#monitor.start();
      this.#ready = true;
      this.#log.info('Started', { serverId: this.serverId, driver: this.#driver.name });
    })();
    return this.#started;
  }

  #emit(event: BackplaneEvent): void {
    if (event.type === 'outage-started') this.#stats.outages++;
    if (event.type === 'gap') {
      this.#stats.gaps += event.to - event.from + 1;
      this.#reconciler?.note(event.target);
    }
    this.#events.next(event);
  }

  /** Mints an id for a new connection of this server. */
  createConnectionId(): string {
    return createConnectionId(this.serverId);
  }

  /**
   * Registers a connection of this server. An id this server already holds stays with the connection that
   * registered it first: another connection object under that id is refused with
   * `DuplicateConnectionError` (a forged or replayed connection token must not take over someone's
   * messages). Registering the same object again is a no-op.
   */
  async onConnected(connection: LocalConnection): Promise<void> {
    requireName(connection.connectionId, 'Connection id');
    requireUserIdentifier(connection.userIdentifier, this.#maxUserIdLength);
    if (!this.#ready) await this.start();
    await this.#connections.add(connection);
  }

  /** Unregisters a connection. Only the object that was registered under its id can unregister it. */
  async onDisconnected(connection: LocalConnection): Promise<void> {
    const leaving = this.#connections.remove(connection);
    if (!leaving) return;
    this.#results.connectionGone(connection.connectionId);
    await Promise.allSettled(leaving);
  }

  // ---- sends -------------------------------------------------------------------------------------------

  sendAll(method: string, args: readonly unknown[]): Promise<void> {
    return this.sendAllExcept(method, args, []);
  }

  sendAllExcept(
    method: string,
    args: readonly unknown[],
    excludedConnectionIds: readonly string[],
  ): Promise<void> {
    const payloads = this.#publisher.serialize(method, args);
    this.#connections.deliverToAll(payloads, excludedConnectionIds);
    return this.#publisher.all(payloads, excludedConnectionIds);
  }

  sendConnection(connectionId: string, method: string, args: readonly unknown[]): Promise<void> {
    return this.sendConnections([connectionId], method, args);
  }

  sendConnections(connectionIds: readonly string[], method: string, args: readonly unknown[]): Promise<void> {
    for (const id of connectionIds) requireName(id, 'Connection id');
    const payloads = this.#publisher.serialize(method, args);
    const remote = this.#connections.deliverToConnections(connectionIds, payloads);
    return remote.length ? this.#publisher.connections(remote, payloads) : Promise.resolve();
  }

  sendGroup(groupName: string, method: string, args: readonly unknown[]): Promise<void> {
    return this.sendGroupExcept(groupName, method, args, []);
  }

  sendGroupExcept(
    groupName: string,
    method: string,
    args: readonly unknown[],
    excludedConnectionIds: readonly string[],
  ): Promise<void> {
    requireGroupName(groupName, this.#maxGroupNameLength);
    const payloads = this.#publisher.serialize(method, args);
    this.#connections.deliverToGroup(groupName, payloads, excludedConnectionIds);
    return this.#publisher.group(groupName, payloads, excludedConnectionIds);
  }

  /** Sends to several groups; a connection in more than one of them receives the message once. */
  sendGroups(groupNames: readonly string[], method: string, args: readonly unknown[]): Promise<void> {
    for (const name of groupNames) requireGroupName(name, this.#maxGroupNameLength);
    if (groupNames.length === 0) return Promise.resolve();
    const payloads = this.#publisher.serialize(method, args);
    this.#connections.deliverToGroups(groupNames, payloads);
    return this.#publisher.groups(groupNames, payloads);
  }

  sendUser(userId: string, method: string, args: readonly unknown[]): Promise<void> {
    return this.sendUsers([userId], method, args);
  }

  sendUsers(userIds: readonly string[], method: string, args: readonly unknown[]): Promise<void> {
    for (const id of userIds) requireUserId(id, this.#maxUserIdLength);
    const payloads = this.#publisher.serialize(method, args);
    this.#connections.deliverToUsers(userIds, payloads);
    return this.#publisher.users(userIds, payloads);
  }

  // ---- groups ------------------------------------------------------------------------------------------

  /**
   * Adds a connection (on any server) to a group. Resolves once the owner's group subscription is live,
   * so a send that follows from any server reaches it. Unknown connections are a no-op.
   */
  addToGroup(connectionId: string, groupName: string, options?: GroupOptions): Promise<void> {
    return this.#groupCommands.run('add', connectionId, groupName, options);
  }

  /** Removes a connection (on any server) from a group. Not being a member is a no-op, acked all the same. */
  removeFromGroup(connectionId: string, groupName: string, options?: GroupOptions): Promise<void> {
    return this.#groupCommands.run('remove', connectionId, groupName, options);
  }

  // ---- client results ----------------------------------------------------------------------------------

  /**
   * Invokes a method on one client (on any server) and waits for its result. Rejects with
   * `ConnectionNotFoundError` when the connection exists nowhere, `ConnectionDisconnectedError` (local) or
   * `HubError('Connection disconnected.')` (remote) when it leaves first, `HubError` with the client's
   * message when the client fails.
   */
  invokeConnection<T = unknown>(
    connectionId: string,
    method: string,
    args: readonly unknown[],
    options: InvokeOptions<T> = {},
  ): Promise<T> {
    return this.#invocations.invoke(connectionId, method, args, options);
  }

  /**
   * Hands a client's `Completion` for a pending client result to whoever waits for it (this server or
   * the one that invoked). Unknown ids are ignored; a completion from a connection that was not asked
   * throws `InvalidInvocationError`.
   */
  async setConnectionResult(connectionId: string, completion: CompletionMessage): Promise<void> {
    this.#results.complete(connectionId, completion);
  }

  /** Whether `invocationId` is a client result this server waits for or must forward (SignalR's TryGetReturnType). */
  hasPendingResult(invocationId: string): boolean {
    return this.#results.has(invocationId);
  }

  // ---- requests about connections ----------------------------------------------------------------------

  /**
   * Asks the server owning `connectionId` (on any server, this one included) and resolves with its
   * handler's answer. Rejects with `ConnectionNotFoundError` (no such server, or its handler does not hold
   * the connection), `AckTimeoutError` (no reply within `timeout` plus a grace of 5 s),
   * `RequestFailedError` (a bound, or the handler failed), `ClosedError`.
   */
  request(connectionId: string, payload: Uint8Array, options: RequestOptions): Promise<Uint8Array> {
    return this.#requests.request(connectionId, payload, options);
  }

  /** Sets who answers requests about this server's connections (the hub server); one handler per manager. */
  setRequestHandler(handler: ConnectionRequestHandler | undefined): void {
    this.#requests.handler = handler;
  }

  /** Stops receiving, fails pending acks and client results with `ClosedError`, closes the driver. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#monitor.stop();
    if (this.#presence) await this.#presence.close();
    this.#link.close();
    this.#acks.closeAll();
    this.#results.closeAll();
    this.#queries.close();
    this.#requests.closeAll();
    this.#connections.clear();
    await this.#driver.close();
    this.#events.complete();
    this.#measurements.complete();
  }
}
