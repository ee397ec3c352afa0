import { type Observable, of, Subject, type Subscription, tap } from 'rxjs';
import { AckTracker } from './ack-tracker.js';
import { Channels, type ChannelTarget } from './channels.js';
import {
  ClientResults,
  completionFromBody,
  completionToBody,
  type ResultType,
  settleCompletion,
} from './client-results.js';
import type {
  AckBody,
  CompletionBody,
  Envelope,
  GroupAction,
  GroupCommandBody,
  InvocationBody,
} from './envelope.js';
import { decodeEnvelope, ownEnvelopeReader } from './envelope-codec.js';
import {
  ConnectionDisconnectedError,
  ConnectionNotFoundError,
  DuplicateConnectionError,
  EnvelopeError,
  HubError,
  InvalidArgumentError,
  LimitExceededError,
} from './errors.js';
import type { HubConnection } from './hub-connection.js';
import {
  createConnectionId,
  createEpoch,
  createInvocationId,
  createNodeId,
  ownerOfConnection,
} from './ids.js';
import { createConsoleLogger, type Logger } from './logger.js';
import { defaultProtocols } from './protocol/default-protocols.js';
import { type CompletionMessage, MessageType } from './protocol/hub-messages.js';
import type { HubProtocol } from './protocol/hub-protocol.js';
import { type Payloads, Publisher } from './publisher.js';
import { backoffDelay } from './resilience/backoff.js';
import type { BackplaneEvent } from './resilience/events.js';
import { GapDetector } from './resilience/gap-detector.js';
import { type LinkState, linkState, outageEvents } from './resilience/link-state.js';
import { type LivenessOptions, liveness } from './resilience/liveness.js';
import type { OutboxOptions } from './resilience/outbox.js';
import { PublishLink } from './resilience/publish-link.js';
import { type BackplaneStats, createStats } from './stats.js';
import { SubscriptionRegistry } from './subscription-registry.js';
import {
  type DurableTransport,
  isDurableTransport,
  LOG_START,
  type LogEntry,
  type LogPosition,
  type MessageHandler,
  type Transport,
  type TransportState,
} from './transport.js';
import {
  abortable,
  DEFAULT_MAX_GROUPS_PER_CONNECTION,
  limitOption,
  nameLimits,
  requireGroupName,
  requireName,
  requireNodeId,
  requireUserId,
  requireUserIdentifier,
} from './validate.js';

export interface HubLifetimeManagerOptions {
  /** The driver: one transport per manager. The manager connects it in `start()` and closes it in `close()`. */
  transport: Transport;
  /**
   * The hub's name in channel names: non-empty, without ':' (`InvalidArgumentError` otherwise).
   * @default 'hub'
   */
  hub?: string;
  /**
   * Channel prefix; give each app on a shared broker its own so they never see each other's messages.
   * One non-empty segment ending with ':' and containing no other ':' (`'myapp:'`, `'myapp-prod:'`), so
   * that no app's channel names can extend another's (docs/protocol.md); `InvalidArgumentError` otherwise.
   * @default 'backplane:'
   */
  prefix?: string;
  /**
   * This node's name, shown in logs and health output. The server id (inbox, envelope origin, connection
   * id suffix) is `{nodeId}-{8 hex chars of the epoch}`, so a restarted node is a new server. At most 247
   * characters (server ids stay within 256; connection ids naming a longer one belong to no server).
   * @default a random `node-xxxxxxxx`
   */
  nodeId?: string;
  /**
   * Hub protocols every invocation is serialized for (once per send, on the sender).
   * @default [JSON, MessagePack]
   */
  protocols?: readonly HubProtocol[];
  /**
   * How long a group add/remove for a connection on another server waits for the owner's ack, in ms.
   * @default 30_000
   */
  ackTimeout?: number;
  /** @default a console logger at `BACKPLANE_LOG` level (else 'warn'), tagged with the node id */
  logger?: Logger;
  /**
   * Buffer publishes while the broker is unreachable and flush them in order when it is back; `false`
   * for plain at-most-once (losses are still reported as gaps by the receivers).
   * @default {} (on: 10_000 messages, 16 MiB, 60 s, drop-oldest)
   */
  outbox?: OutboxOptions | false;
  /**
   * The liveness probe through the real publish path; `false` trusts the driver's state alone.
   * @default { probeInterval: 1_000, probeTimeout: 2_000 }
   */
  liveness?: LivenessOptions | false;
  /**
   * With transports that cannot count receivers (NATS, Kafka): how often each server announces itself, in
   * ms. A server silent for 3 intervals, or one that said goodbye, is gone: client results to its
   * connections fail at once and group commands for them are no-ops.
   * @default 2_000
   */
  presenceInterval?: number;
  /**
   * Durable mode: invocations also land in the transport's bounded log, and after an outage or a gap this
   * server replays what its connections missed, in order and without duplicates; when the log no longer
   * holds the gap it reports `recovered: false` and the exact gap. Needs a {@link DurableTransport}
   * (`isDurableTransport`): any other transport is refused with `InvalidArgumentError` here.
   * @default false
   */
  durable?: boolean;
  /**
   * Reconciliation: called with what this server's connections missed for good (every `gap`: in durable
   * mode only what the log could not fill), batched over `reconcileWindow`. Push fresh state to exactly
   * those groups and users (orders, balances, alerts). Errors it throws are logged.
   */
  reconcile?: (missed: MissedMessages) => void | Promise<void>;
  /** How long gaps are collected into one `reconcile` call, in ms. @default 100 */
  reconcileWindow?: number;
  /**
   * The longest group name accepted, in UTF-16 code units (JavaScript string length). Longer names are
   * refused with `LimitExceededError` by `addToGroup`, `removeFromGroup` and the group sends, before
   * anything reaches the broker; a group command from another server naming one is refused too.
   * @default 256
   */
  maxGroupNameLength?: number;
  /**
   * The longest user id accepted, in UTF-16 code units. `onConnected` refuses a connection whose user id
   * is longer, and `sendUser`/`sendUsers` refuse such ids, with `LimitExceededError`.
   * @default 256
   */
  maxUserIdLength?: number;
  /**
   * How many groups one connection of this server may be in at once (each group is one broker
   * subscription while it has a local member). Joining one more is refused with `LimitExceededError`,
   * whichever server asked.
   * @default 1_000
   */
  maxGroupsPerConnection?: number;
  /**
   * How many other senders (servers and hub contexts, by origin id) this server keeps ordering state for:
   * the last sequence number per channel and the recent `sendGroups` batches (and, where servers announce
   * themselves, their presence entries). Past the bound the least recently heard from is forgotten: its
   * next message starts a fresh baseline, so a loss just before it would go unreported. Besides, a
   * message of another epoch from the same origin replaces the previous epoch's state, and where the
   * transport cannot count receivers a server's state goes when it says goodbye, or 10 minutes after
   * it was presumed gone (silent for 3 presence intervals). `stats.trackedOrigins` shows the count.
   * @default 10_000 origins
   */
  maxTrackedOrigins?: number;
}

/** What a server's connections missed, for `reconcile`. */
export interface MissedMessages {
  /** Broadcasts (`sendAll`) were missed: every connection may be stale. */
  readonly all: boolean;
  readonly groups: readonly string[];
  readonly users: readonly string[];
  /** Messages addressed to single connections of this server were missed. */
  readonly connections: boolean;
}

/**
 * Presence: how long a server presumed gone (silent past its 3 intervals) keeps its entry and its
 * ordering state, in ms. It may only be cut off for a while; if it comes back within this time, gaps in
 * its messages are still reported.
 */
const GONE_SERVER_MEMORY_MS = 600_000;

/** Log entries read per request while replaying. */
const REPLAY_PAGE = 500;
/** Durable mode: log reads per replay at most, while held live messages still reveal gaps. */
const REPLAY_READS = 3;
/**
 * Durable mode: attempts at one log read before the replay gives up (a broker just restarted may refuse
 * reads for a moment: still loading, or the connection not back yet). With the delays below: ~20 s.
 */
const READ_ATTEMPTS = 12;
const READ_RETRY = { initialDelay: 100, maxDelay: 2_000 };

export interface InvokeOptions<T> {
  /** Cancels the wait: the call rejects with `HubError('Invocation canceled by the server.')`. */
  signal?: AbortSignal;
  /** Validates the client's result; without it the raw value is returned. */
  resultType?: ResultType<T>;
}

export interface GroupOptions {
  /** Stops waiting for the owner's ack (the command may still take effect). */
  signal?: AbortSignal;
}

interface LocalConnection {
  readonly connection: HubConnection;
  /** The groups it is in; made on the first join (most connections join none). */
  groups: Set<string> | undefined;
  readonly userChannel: string | undefined;
}

const MALFORMED_LOG_INTERVAL_MS = 10_000;

/**
 * Keeps this server's connections, groups and users, and reaches every other server's through the
 * transport. The API mirrors ASP.NET Core SignalR's `HubLifetimeManager`.
 *
 * Sends deliver to local connections at once (never through the broker) and publish one envelope for the
 * other servers, which ignore their own echoes. Group and user channels are subscribed lazily, only while
 * this server has a member.
 */
export class HubLifetimeManager {
  readonly nodeId: string;
  readonly serverId: string;
  readonly epoch: string;
  readonly channels: Channels;

  readonly #transport: Transport;
  readonly #protocols: readonly HubProtocol[];
  readonly #ackTimeout: number;
  readonly #log: Logger;
  readonly #stats: BackplaneStats = createStats();
  readonly #publisher: Publisher;
  readonly #inbox: string;
  readonly #connections = new Map<string, LocalConnection>();
  readonly #subscriptions: SubscriptionRegistry;
  readonly #acks = new AckTracker();
  readonly #results = new ClientResults();
  readonly #events = new Subject<BackplaneEvent>();
  readonly #probeAnswers = new Subject<number>();
  /** Per-origin ordering state: sequence numbers per channel and recent `sendGroups` batches. */
  readonly #gaps: GapDetector;
  readonly #maxTrackedOrigins: number;
  readonly #link: PublishLink;
  readonly #liveness: LivenessOptions | false;
  #linkState: LinkState = { up: false, reason: 'not started' };
  #pipeline: Subscription | undefined;
  #lastActivity = 0;
  /** Server id → when its presence expires (0: it left). Only where the transport cannot count receivers. */
  readonly #presence = new Map<string, number>();
  readonly #presenceInterval: number;
  #presenceTimer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  readonly #reconcile: HubLifetimeManagerOptions['reconcile'];
  readonly #reconcileWindow: number;
  readonly #maxGroupNameLength: number;
  readonly #maxUserIdLength: number;
  readonly #maxGroupsPerConnection: number;
  #missed: { all: boolean; groups: Set<string>; users: Set<string>; connections: boolean } | undefined;
  readonly #durable: boolean;
  /** Durable mode: the transport's log. */
  readonly #durableLog: DurableTransport | undefined;
  /** Durable mode: the last log position processed, per channel (live or replayed). */
  readonly #positions = new Map<string, LogPosition>();
  /** Durable mode: live messages held while their channel replays. */
  readonly #replaying = new Map<string, Array<{ payload: Uint8Array; position: LogPosition | undefined }>>();
  /** Reads the kind of our own envelopes from their header, so their echo is dropped undecoded. */
  readonly #ownKind: (bytes: Uint8Array) => Envelope['kind'] | undefined;
  #started: Promise<void> | undefined;
  #ready = false;
  #closed = false;
  #lastMalformedLog = 0;
  #malformedSinceLog = 0;

  constructor(options: HubLifetimeManagerOptions) {
    this.#transport = options.transport;
    this.nodeId = requireNodeId(options.nodeId ?? createNodeId());
    this.epoch = createEpoch();
    this.serverId = `${this.nodeId}-${this.epoch.slice(0, 8)}`;
    this.#ownKind = ownEnvelopeReader(this.serverId, this.epoch);
    this.channels = new Channels(options.prefix ?? 'backplane:', options.hub ?? 'hub');
    this.#protocols = options.protocols ?? defaultProtocols();
    this.#ackTimeout = options.ackTimeout ?? 30_000;
    this.#log = options.logger ?? createConsoleLogger(this.nodeId);
    this.#inbox = this.channels.server(this.serverId);
    this.#liveness = options.liveness ?? {};
    this.#presenceInterval = options.presenceInterval ?? 2_000;
    this.#durable = options.durable ?? false;
    this.#reconcile = options.reconcile;
    this.#reconcileWindow = options.reconcileWindow ?? 100;
    ({ maxGroupNameLength: this.#maxGroupNameLength, maxUserIdLength: this.#maxUserIdLength } =
      nameLimits(options));
    this.#maxTrackedOrigins = limitOption(options.maxTrackedOrigins, 'maxTrackedOrigins', 10_000);
    this.#gaps = new GapDetector({ maxOrigins: this.#maxTrackedOrigins });
    this.#maxGroupsPerConnection = limitOption(
      options.maxGroupsPerConnection,
      'maxGroupsPerConnection',
      DEFAULT_MAX_GROUPS_PER_CONNECTION,
    );
    const t = this.#transport;
    if (this.#durable && !isDurableTransport(t))
      throw new InvalidArgumentError(`Durable mode needs a durable transport; '${t.name}' keeps no log.`);
    this.#durableLog = this.#durable && isDurableTransport(t) ? t : undefined;
    this.#link = new PublishLink(this.#transport, { outbox: options.outbox ?? {} }, (event) =>
      this.#emit(event),
    );
    this.#publisher = new Publisher(this.#link, this.channels, this, this.#protocols, this.#stats);
    this.#subscriptions = new SubscriptionRegistry(
      this.#transport,
      (channel, error) => this.#log.error('Subscription change failed', { channel, error }),
      (channel) => {
        this.#gaps.forgetChannel(channel);
        this.#positions.delete(channel);
      },
    );
    this.#publisher.durable = this.#durable;
    if (this.#durable) this.#subscriptions.onSubscribed = (channel) => void this.#baseline(channel);
  }

  /**
   * What the resilience pipeline reports: outages, gaps (messages that never arrived, naming the group
   * or user), outbox overflows and flushes. Every loss the backplane knows of is an event here.
   */
  get events$(): Observable<BackplaneEvent> {
    return this.#events.asObservable();
  }

  /** Whether the broker is usable now (driver state and liveness probe combined). */
  get link(): LinkState {
    return this.#linkState;
  }

  /** The transport's link state. */
  get state$(): Observable<TransportState> {
    return this.#transport.state$;
  }

  get state(): TransportState {
    return this.#transport.state;
  }

  /** A snapshot of the counters. */
  get stats(): Readonly<BackplaneStats> {
    return {
      ...this.#stats,
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

  /** Connects the transport and subscribes to `all` and this server's inbox. Idempotent. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      this.#transport.setMessageHandler(this.#receive);
      await this.#transport.connect();
      await Promise.all([
        this.#transport.subscribe(this.channels.all),
        this.#transport.subscribe(this.#inbox),
      ]);
      this.#startedAt = Date.now();
      if (this.#durable) await Promise.all([this.#baseline(this.channels.all), this.#baseline(this.#inbox)]);
      if (!this.#transport.capabilities.receiverCount) await this.#startPresence();
      this.#startPipeline();
      this.#ready = true;
      this.#log.info('Started', { serverId: this.serverId, transport: this.#transport.name });
    })();
    return this.#started;
  }

  /** Link state = driver state + liveness probe; feeds the outbox and the outage events. */
  #startPipeline(): void {
    this.#lastActivity = Date.now();
    const alive$ =
      this.#liveness === false
        ? of(true) // trust the driver's state alone
        : liveness(
            () => this.#lastActivity,
            (id) => this.#sendProbe(id),
            this.#probeAnswers,
            this.#liveness,
          );
    const link$ = linkState(this.#transport.state$, alive$).pipe(
      tap((link) => {
        this.#linkState = link;
        this.#link.setUp(link.up);
        if (!link.up) this.#log.warn('Backplane link down', { reason: link.reason });
      }),
    );
    this.#pipeline = outageEvents(link$, Date.now).subscribe((event) => {
      this.#emit(event);
      if (event.type === 'outage-ended' && this.#durable)
        for (const channel of this.#positions.keys()) void this.#replay(channel);
    });
  }

  async #startPresence(): Promise<void> {
    await this.#transport.subscribe(this.channels.presence);
    const beat = () => {
      const now = Date.now();
      for (const [server, expires] of this.#presence)
        if (expires < now - GONE_SERVER_MEMORY_MS) this.#forgetServer(server);
      this.#failResultsOfGoneServers();
      this.#publisher
        .publish(this.channels.presence, { kind: 'heartbeat', interval: this.#presenceInterval })
        .catch(() => {});
    };
    beat();
    this.#presenceTimer = setInterval(beat, this.#presenceInterval);
    this.#presenceTimer.unref();
  }

  /** A server known to be gone for good: drop its presence entry and its ordering state. */
  #forgetServer(serverId: string): void {
    this.#presence.delete(serverId);
    this.#gaps.forgetOrigin(serverId);
  }

  /** Records a heartbeat; the presence map is bounded like the ordering state (least recently heard first). */
  #heard(serverId: string, interval: number): void {
    if (interval === 0) {
      // A goodbye: it is gone now. Keep a tombstone (so it reads as gone, not as never heard of) but
      // none of its ordering state: a restarted node is a new server id.
      this.#presence.delete(serverId);
      this.#presence.set(serverId, 0);
      this.#gaps.forgetOrigin(serverId);
      this.#failResultsOfGoneServers();
    } else {
      this.#presence.delete(serverId);
      this.#presence.set(serverId, Date.now() + 3 * interval);
    }
    if (this.#presence.size > this.#maxTrackedOrigins)
      this.#forgetServer(this.#presence.keys().next().value as string);
  }

  /**
   * Whether `serverId` is known to be gone. Only answered from presence, where the transport cannot count
   * receivers (otherwise the publish's receiver count tells). A server never heard of counts as gone once
   * this one has listened for 3 intervals.
   */
  #isGone(serverId: string): boolean {
    if (this.#transport.capabilities.receiverCount || this.#presenceTimer === undefined) return false;
    const now = Date.now();
    const expires = this.#presence.get(serverId);
    if (expires !== undefined) return expires <= now;
    return now - this.#startedAt > 3 * this.#presenceInterval;
  }

  /** Client results waiting on a server that is gone will never be answered: fail them now. */
  #failResultsOfGoneServers(): void {
    this.#results.failWhere(
      (connectionId) => {
        const owner = ownerOfConnection(connectionId);
        return owner !== undefined && owner !== this.serverId && this.#isGone(owner);
      },
      (connectionId) => new ConnectionNotFoundError(connectionId),
    );
  }

  #sendProbe(id: number): void {
    this.#publisher
      .publish(this.#inbox, { kind: 'probe', id }, { publish: (c, p) => this.#link.publishDirect(c, p) })
      .catch(() => {}); // a probe that cannot be sent simply never comes back
  }

  #emit(event: BackplaneEvent): void {
    if (event.type === 'gap') {
      this.#stats.gaps += event.to - event.from + 1;
      this.#noteMissed(event.target);
    }
    this.#events.next(event);
  }

  /** Collects gap targets for one batched `reconcile` call. */
  #noteMissed(target: ChannelTarget | undefined): void {
    if (!this.#reconcile || !target) return;
    if (!this.#missed) {
      this.#missed = { all: false, groups: new Set(), users: new Set(), connections: false };
      setTimeout(() => this.#flushMissed(), this.#reconcileWindow).unref();
    }
    if (target.kind === 'all') this.#missed.all = true;
    else if (target.kind === 'group') this.#missed.groups.add(target.name);
    else if (target.kind === 'user') this.#missed.users.add(target.name);
    else if (target.name === this.serverId) this.#missed.connections = true;
  }

  #flushMissed(): void {
    const missed = this.#missed;
    this.#missed = undefined;
    if (!missed || !this.#reconcile || this.#closed) return;
    const report: MissedMessages = {
      all: missed.all,
      groups: [...missed.groups],
      users: [...missed.users],
      connections: missed.connections,
    };
    Promise.resolve()
      .then(() => this.#reconcile?.(report))
      .catch((error: unknown) => this.#log.error('reconcile failed', { error }));
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
  async onConnected(connection: HubConnection): Promise<void> {
    const id = connection.connectionId;
    requireName(id, 'Connection id');
    requireUserIdentifier(connection.userIdentifier, this.#maxUserIdLength);
    if (!this.#ready) await this.start();
    const existing = this.#connections.get(id);
    if (existing) {
      if (existing.connection === connection) return;
      this.#log.warn('Refused a second connection under a connection id already held', { connectionId: id });
      throw new DuplicateConnectionError(id);
    }
    const user = connection.userIdentifier;
    const userChannel = user ? this.channels.user(user) : undefined;
    this.#connections.set(id, { connection, groups: undefined, userChannel });
    if (userChannel) await this.#subscriptions.add(userChannel, id);
  }

  /** Unregisters a connection. Only the object that was registered under its id can unregister it. */
  async onDisconnected(connection: HubConnection): Promise<void> {
    const id = connection.connectionId;
    const local = this.#connections.get(id);
    if (!local || local.connection !== connection) return;
    this.#connections.delete(id);
    const leaving = [...(local.groups ?? [])].map((group) =>
      this.#subscriptions.remove(this.channels.group(group), id),
    );
    if (local.userChannel) leaving.push(this.#subscriptions.remove(local.userChannel, id));
    this.#results.connectionGone(id);
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
    const excluded = new Set(excludedConnectionIds);
    for (const [id, local] of this.#connections)
      if (!excluded.has(id)) this.#deliver(local.connection, payloads);
    return this.#publisher.all(payloads, excludedConnectionIds);
  }

  sendConnection(connectionId: string, method: string, args: readonly unknown[]): Promise<void> {
    return this.sendConnections([connectionId], method, args);
  }

  sendConnections(connectionIds: readonly string[], method: string, args: readonly unknown[]): Promise<void> {
    for (const id of connectionIds) requireName(id, 'Connection id');
    const payloads = this.#publisher.serialize(method, args);
    const remote: string[] = [];
    for (const id of new Set(connectionIds)) {
      const local = this.#connections.get(id);
      if (local) this.#deliver(local.connection, payloads);
      else remote.push(id);
    }
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
    this.#deliverTo(
      this.#subscriptions.members(this.channels.group(groupName)),
      payloads,
      excludedConnectionIds,
    );
    return this.#publisher.group(groupName, payloads, excludedConnectionIds);
  }

  /** Sends to several groups; a connection in more than one of them receives the message once. */
  sendGroups(groupNames: readonly string[], method: string, args: readonly unknown[]): Promise<void> {
    for (const name of groupNames) requireGroupName(name, this.#maxGroupNameLength);
    if (groupNames.length === 0) return Promise.resolve();
    const payloads = this.#publisher.serialize(method, args);
    this.#deliverTo(this.#unionOfGroups(groupNames), payloads);
    return this.#publisher.groups(groupNames, payloads);
  }

  sendUser(userId: string, method: string, args: readonly unknown[]): Promise<void> {
    return this.sendUsers([userId], method, args);
  }

  sendUsers(userIds: readonly string[], method: string, args: readonly unknown[]): Promise<void> {
    for (const id of userIds) requireUserId(id, this.#maxUserIdLength);
    const payloads = this.#publisher.serialize(method, args);
    for (const id of new Set(userIds))
      this.#deliverTo(this.#subscriptions.members(this.channels.user(id)), payloads);
    return this.#publisher.users(userIds, payloads);
  }

  // ---- groups ------------------------------------------------------------------------------------------

  /**
   * Adds a connection (on any server) to a group. Resolves once the owner's group subscription is live,
   * so a send that follows from any server reaches it. Unknown connections are a no-op.
   */
  addToGroup(connectionId: string, groupName: string, options?: GroupOptions): Promise<void> {
    return this.#groupCommand('add', connectionId, groupName, options);
  }

  /** Removes a connection (on any server) from a group. Not being a member is a no-op, acked all the same. */
  removeFromGroup(connectionId: string, groupName: string, options?: GroupOptions): Promise<void> {
    return this.#groupCommand('remove', connectionId, groupName, options);
  }

  async #groupCommand(
    action: GroupAction,
    connectionId: string,
    group: string,
    options: GroupOptions | undefined,
  ): Promise<void> {
    requireName(connectionId, 'Connection id');
    requireGroupName(group, this.#maxGroupNameLength);
    if (!this.#ready) await this.start();
    const local = this.#connections.get(connectionId);
    if (local) return this.#applyGroupAction(local, action, group);
    const owner = ownerOfConnection(connectionId);
    if (owner === undefined || this.#isGone(owner)) return; // the connection exists nowhere
    const ack = this.#acks.create(
      this.#ackTimeout,
      () =>
        `${action === 'add' ? 'Adding' : 'Removing'} connection '${connectionId}' ${action === 'add' ? 'to' : 'from'} group '${group}'`,
      () => this.#stats.ackTimeouts++,
    );
    const command: GroupCommandBody = { kind: 'group-command', id: ack.id, action, group, connectionId };
    try {
      const receivers = await this.#publisher.publish(this.channels.server(owner), command);
      if (receivers === 0) this.#acks.forget(ack.id); // its server is gone: the connection exists nowhere
    } catch (error) {
      this.#acks.forget(ack.id);
      throw error;
    }
    await abortable(ack.done, options?.signal);
  }

  /** Applies a group command to a local connection; throws `LimitExceededError` on a join too many. */
  #applyGroupAction(local: LocalConnection, action: GroupAction, group: string): Promise<void> {
    const id = local.connection.connectionId;
    const channel = this.channels.group(group);
    if (action === 'add') {
      const count = local.groups?.size ?? 0;
      if (count >= this.#maxGroupsPerConnection && !local.groups?.has(group))
        throw new LimitExceededError(
          'maxGroupsPerConnection',
          this.#maxGroupsPerConnection,
          `Connection '${id}' is in ${count} groups, the limit (maxGroupsPerConnection); it must leave one before joining another.`,
        );
      local.groups ??= new Set();
      local.groups.add(group);
      return this.#subscriptions.add(channel, id);
    }
    local.groups?.delete(group);
    return this.#subscriptions.remove(channel, id);
  }

  // ---- client results ----------------------------------------------------------------------------------

  /**
   * Invokes a method on one client (on any server) and waits for its result. Rejects with
   * `ConnectionNotFoundError` when the connection exists nowhere, `ConnectionDisconnectedError` (local) or
   * `HubError('Connection disconnected.')` (remote) when it leaves first, `HubError` with the client's
   * message when the client fails.
   */
  async invokeConnection<T = unknown>(
    connectionId: string,
    method: string,
    args: readonly unknown[],
    options: InvokeOptions<T> = {},
  ): Promise<T> {
    requireName(connectionId, 'Connection id');
    if (!this.#ready) await this.start();
    const local = this.#connections.get(connectionId);
    const owner = local ? this.serverId : ownerOfConnection(connectionId);
    // Foreign ids name no server; an id of ours that we do not hold has left; a gone server holds nothing.
    if (owner === undefined || (!local && (owner === this.serverId || this.#isGone(owner))))
      throw new ConnectionNotFoundError(connectionId);
    const invocationId = createInvocationId();
    const { signal, resultType } = options;
    signal?.throwIfAborted();

    const result = new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.#results.remove(invocationId);
        reject(new HubError('Invocation canceled by the server.', { cause: signal?.reason }));
      };
      const settle = (fn: () => void) => {
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#results.add(invocationId, {
        connectionId,
        complete: (completion) => settle(() => settleCompletion(completion, resultType, resolve, reject)),
        fail: (error) => settle(() => reject(error)),
        disconnected: () => settle(() => reject(new ConnectionDisconnectedError(connectionId))),
      });
    });

    // The call may fail (close, a fast 'not-found' reply) while this method still awaits its publish,
    // before the caller holds the promise: that must not count as an unhandled rejection.
    result.catch(() => {});

    if (local) {
      const frame = local.connection.protocol.writeMessage({
        type: MessageType.Invocation,
        invocationId,
        target: method,
        arguments: args,
      });
      this.#write(local.connection, frame);
      return result;
    }
    const payloads = this.#publisher.serialize(method, args, invocationId);
    const body: InvocationBody = {
      kind: 'invocation',
      payloads,
      connectionIds: [connectionId],
      invocationId,
    };
    let receivers: number | undefined;
    try {
      receivers = await this.#publisher.publish(this.channels.server(owner), body);
    } catch (error) {
      this.#results.remove(invocationId);
      throw error;
    }
    if (receivers === 0) {
      this.#results.remove(invocationId);
      throw new ConnectionNotFoundError(connectionId);
    }
    return result;
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

  /** Stops receiving, fails pending acks and client results with `ClosedError`, closes the transport. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pipeline?.unsubscribe();
    if (this.#presenceTimer) {
      clearInterval(this.#presenceTimer);
      await withDeadline(
        this.#publisher.publish(this.channels.presence, { kind: 'heartbeat', interval: 0 }),
        3_000,
      );
    }
    this.#link.close();
    this.#acks.closeAll();
    this.#results.closeAll();
    this.#connections.clear();
    await this.#transport.close();
    this.#events.complete();
  }

  // ---- receive path ------------------------------------------------------------------------------------

  /** The transport's message handler: typed as one, so the log position cannot be left behind. */
  readonly #receive: MessageHandler = (channel, payload, position) => {
    this.#stats.received++;
    this.#lastActivity = Date.now();
    const held = this.#replaying.get(channel);
    if (held) held.push({ payload, position });
    else this.#process(channel, payload, position, 'live');
  };

  /**
   * Decodes, checks order and delivers one message. In durable mode a gap in a live message starts a
   * replay of the channel's log instead (the message itself waits for it); a gap in a live message held
   * during a replay sends the replay back to the log (`'retry'`); a gap in the log itself is a real loss
   * and is reported.
   * @param source `live` from the broker, `log` read back from the log, `held` live but held by a replay.
   */
  #process(
    channel: string,
    payload: Uint8Array,
    position: LogPosition | undefined,
    source: 'live' | 'log' | 'held',
  ): 'delivered' | 'skipped' | { retryFrom: LogPosition | undefined } {
    const own = this.#ownKind(payload);
    if (own !== undefined && own !== 'probe') {
      // Our own sends were delivered locally already (the common echo of a broadcast: not even decoded).
      this.#advance(channel, position);
      return 'skipped';
    }
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(payload, channel);
    } catch (error) {
      this.#reportMalformed(channel, error);
      this.#advance(channel, position);
      return 'skipped';
    }
    if (envelope.origin === this.serverId) {
      // Our own sends were delivered locally already; only probes come back on purpose.
      if (envelope.kind === 'probe') this.#probeAnswers.next(envelope.id);
      this.#advance(channel, position);
      return 'skipped';
    }
    // Heartbeats are not messages anyone misses: they take no part in gap detection.
    const seen =
      envelope.kind === 'heartbeat'
        ? 'ok'
        : this.#gaps.observe(channel, envelope.origin, envelope.epoch, envelope.seq);
    if (seen === 'duplicate') {
      this.#stats.duplicates++;
      return 'skipped';
    }
    if (seen !== 'ok') {
      if (this.#durable && source !== 'log' && this.#positions.has(channel)) {
        // Fill the hole from the log first; this message is delivered after what it revealed missing. The
        // read starts after this origin's last message processed here: other senders' messages processed
        // since may sit after the missing ones in the log.
        this.#gaps.rewind(channel, seen.origin, seen.epoch, seen.from - 1);
        const retryFrom = this.#gaps.position(channel, seen.origin);
        if (source === 'held') return { retryFrom };
        void this.#replay(channel, { payload, position }, retryFrom);
        return 'skipped';
      }
      this.#emit({ type: 'gap', ...seen, target: this.channels.describe(channel) });
      this.#log.warn('Messages missed', { channel, origin: seen.origin, from: seen.from, to: seen.to });
    }
    this.#advance(channel, position);
    if (position !== undefined && this.#durable) this.#gaps.setPosition(channel, envelope.origin, position);
    try {
      this.#dispatch(channel, envelope);
    } catch (error) {
      this.#log.error('Handling a backplane message failed', { channel, kind: envelope.kind, error });
    }
    return 'delivered';
  }

  #advance(channel: string, position: LogPosition | undefined): void {
    if (position !== undefined && this.#durable) this.#positions.set(channel, position);
  }

  /** Durable mode: where this server starts reading a channel's log, taken when it subscribes. */
  async #baseline(channel: string): Promise<void> {
    try {
      const log = this.#durableLog;
      if (!log) return;
      const position = await log.logPosition(channel);
      if (!this.#positions.has(channel)) this.#positions.set(channel, position);
    } catch (error) {
      this.#log.warn('Could not read the log position', { channel, error });
    }
  }

  /**
   * Durable mode: delivers what the log holds after the last position processed on `channel`, then the
   * live messages that arrived meanwhile. A held message that still reveals a gap (it was published after
   * the log was read, and what came before it reached neither the log read nor this server) sends the
   * replay back to the log, a few times at most. Duplicates are dropped by (origin, epoch, seq).
   */
  async #replay(
    channel: string,
    first?: { payload: Uint8Array; position: LogPosition | undefined },
    from?: LogPosition,
  ): Promise<void> {
    const held = this.#replaying.get(channel);
    if (held) {
      if (first) held.push(first);
      return;
    }
    const queue = first ? [first] : [];
    this.#replaying.set(channel, queue);
    let delivered = 0;
    let complete = true;
    const gapsBefore = this.#stats.gaps;
    try {
      let start = from ?? this.#positions.get(channel) ?? LOG_START;
      for (let read = 1; ; read++) {
        let after = start;
        for (;;) {
          const page = await this.#readLog(channel, after);
          if (!page.complete) complete = false;
          for (const entry of page.entries) {
            if (this.#process(channel, entry.payload, entry.position, 'log') === 'delivered') delivered++;
            after = entry.position;
          }
          if (page.entries.length < REPLAY_PAGE) break;
        }
        let retry: { retryFrom: LogPosition | undefined } | undefined;
        while (queue.length > 0 && !retry) {
          const message = queue[0]!;
          const outcome = this.#process(
            channel,
            message.payload,
            message.position,
            read < REPLAY_READS ? 'held' : 'log',
          );
          if (typeof outcome === 'object') retry = outcome;
          else queue.shift();
        }
        if (!retry) break;
        start = retry.retryFrom ?? this.#positions.get(channel) ?? LOG_START;
      }
    } catch (error) {
      complete = false;
      this.#log.error('Replay failed', { channel, error });
    } finally {
      this.#replaying.delete(channel);
      for (const message of queue) this.#process(channel, message.payload, message.position, 'log');
    }
    const target = this.channels.describe(channel);
    this.#stats.replayed += delivered;
    if (delivered > 0) this.#emit({ type: 'replayed', channel, target, count: delivered });
    // Sequence numbers are the judge: a hole that survives the replay is exactly what is lost.
    this.#emit({
      type: 'recovered',
      channel,
      target,
      recovered: complete && this.#stats.gaps === gapsBefore,
    });
  }

  /** One page of the log, retried with backoff while the broker refuses (live messages stay held). */
  async #readLog(channel: string, after: LogPosition): Promise<{ entries: LogEntry[]; complete: boolean }> {
    const log = this.#durableLog;
    if (!log) return { entries: [], complete: false };
    for (let attempt = 1; ; attempt++) {
      try {
        return await log.readLog(channel, after, REPLAY_PAGE);
      } catch (error) {
        if (this.#closed || attempt >= READ_ATTEMPTS) throw error;
        this.#log.debug('Log read failed, retrying', { channel, attempt, error });
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt - 1, READ_RETRY)));
      }
    }
  }

  #dispatch(channel: string, envelope: Envelope): void {
    switch (envelope.kind) {
      case 'invocation':
        if (channel === this.#inbox) this.#receiveInboxInvocation(envelope);
        else if (channel === this.channels.all)
          this.#deliverTo(this.#connections.keys(), envelope.payloads, envelope.exclude);
        else if (envelope.groups) this.#receiveGroupsBatch(envelope);
        else this.#deliverTo(this.#subscriptions.members(channel), envelope.payloads, envelope.exclude);
        return;
      case 'group-command':
        if (channel === this.#inbox) void this.#receiveGroupCommand(envelope);
        return;
      case 'ack':
        if (channel !== this.#inbox) return;
        if (envelope.refused) {
          const { limit, max } = envelope.refused;
          this.#acks.refuse(
            envelope.id,
            (command) =>
              new LimitExceededError(
                limit,
                max,
                `${command} was refused by the connection's server: its ${limit} is ${max}.`,
              ),
          );
        } else this.#acks.resolve(envelope.id);
        return;
      case 'completion':
        if (channel === this.#inbox) this.#receiveCompletion(envelope);
        return;
      case 'probe':
        return;
      case 'heartbeat':
        if (channel === this.channels.presence) this.#heard(envelope.origin, envelope.interval);
        return;
    }
  }

  #receiveInboxInvocation(envelope: Envelope & InvocationBody): void {
    const { invocationId, origin } = envelope;
    for (const id of envelope.connectionIds ?? []) {
      const local = this.#connections.get(id);
      if (invocationId !== undefined) {
        if (!local) {
          void this.#sendCompletion(origin, {
            kind: 'completion',
            invocationId,
            connectionId: id,
            outcome: 'not-found',
          });
          continue;
        }
        this.#results.add(invocationId, {
          connectionId: id,
          complete: (completion) => void this.#sendCompletion(origin, completionToBody(id, completion)),
          fail: () => {},
          disconnected: () =>
            void this.#sendCompletion(origin, {
              kind: 'completion',
              invocationId,
              connectionId: id,
              outcome: 'disconnected',
            }),
        });
      }
      if (local) this.#deliver(local.connection, envelope.payloads);
    }
  }

  #receiveGroupsBatch(envelope: Envelope & InvocationBody): void {
    const { batch } = envelope;
    // A copy already delivered via another group channel is dropped.
    if (batch !== undefined && !this.#gaps.firstCopy(envelope.origin, envelope.epoch, batch)) return;
    this.#deliverTo(this.#unionOfGroups(envelope.groups ?? []), envelope.payloads);
  }

  async #receiveGroupCommand(command: Envelope & GroupCommandBody): Promise<void> {
    const local = this.#connections.get(command.connectionId);
    let refused: AckBody['refused'];
    try {
      // This server's limits hold whoever asks: a caller may be configured differently, or forged.
      if (local) {
        requireGroupName(command.group, this.#maxGroupNameLength);
        await this.#applyGroupAction(local, command.action, command.group);
      }
    } catch (error) {
      if (error instanceof LimitExceededError) {
        refused = { limit: error.limit, max: error.max };
        this.#log.warn('Refused a group command over a limit', {
          connectionId: command.connectionId,
          origin: command.origin,
          limit: error.limit,
        });
      } else {
        this.#log.error('Group command failed', {
          group: command.group,
          connectionId: command.connectionId,
          error,
        });
        return; // no ack: the caller times out rather than believing a subscription is live
      }
    }
    const ack: AckBody = refused ? { kind: 'ack', id: command.id, refused } : { kind: 'ack', id: command.id };
    try {
      await this.#publisher.publish(this.channels.server(command.origin), ack);
    } catch (error) {
      this.#log.warn('Could not acknowledge a group command', { origin: command.origin, error });
    }
  }

  #receiveCompletion(body: CompletionBody): void {
    const outcome = completionFromBody(body);
    try {
      if (outcome instanceof Error) this.#results.fail(body.connectionId, body.invocationId, outcome);
      else this.#results.complete(body.connectionId, outcome);
    } catch (error) {
      this.#log.warn('Dropped a client result from the wrong connection', {
        invocationId: body.invocationId,
        error,
      });
    }
  }

  async #sendCompletion(origin: string, body: CompletionBody): Promise<void> {
    try {
      await this.#publisher.publish(this.channels.server(origin), body);
    } catch (error) {
      this.#log.error('Could not forward a client result', {
        origin,
        invocationId: body.invocationId,
        error,
      });
    }
  }

  // ---- local delivery ----------------------------------------------------------------------------------

  #unionOfGroups(groups: Iterable<string>): Set<string> {
    const members = new Set<string>();
    for (const group of groups)
      for (const id of this.#subscriptions.members(this.channels.group(group))) members.add(id);
    return members;
  }

  #deliverTo(ids: Iterable<string>, payloads: Payloads, exclude?: readonly string[]): void {
    const excluded = exclude?.length ? new Set(exclude) : undefined;
    for (const id of ids) {
      if (excluded?.has(id)) continue;
      const local = this.#connections.get(id);
      if (local) this.#deliver(local.connection, payloads);
    }
  }

  #deliver(connection: HubConnection, payloads: Payloads): void {
    const frame = payloads.get(connection.protocol.name);
    if (!frame) {
      this.#stats.protocolMismatches++;
      this.#log.warn(
        'This message was received from another server that did not have the requested protocol available.',
        {
          protocol: connection.protocol.name,
          connectionId: connection.connectionId,
        },
      );
      return;
    }
    this.#write(connection, frame);
  }

  #write(connection: HubConnection, frame: Uint8Array): void {
    try {
      const pending = connection.write(frame);
      this.#stats.delivered++;
      if (pending) pending.catch((error: unknown) => this.#writeFailed(connection, error));
    } catch (error) {
      this.#writeFailed(connection, error);
    }
  }

  #writeFailed(connection: HubConnection, error: unknown): void {
    this.#stats.writeErrors++;
    this.#log.debug('Writing to a connection failed', { connectionId: connection.connectionId, error });
  }

  #reportMalformed(channel: string, error: unknown): void {
    this.#stats.malformed++;
    this.#malformedSinceLog++;
    const now = Date.now();
    if (now - this.#lastMalformedLog < MALFORMED_LOG_INTERVAL_MS) return;
    this.#log.warn('Dropped malformed backplane messages', {
      channel,
      count: this.#malformedSinceLog,
      error: error instanceof EnvelopeError ? error.message : String(error),
    });
    this.#lastMalformedLog = now;
    this.#malformedSinceLog = 0;
  }
}

/** Waits for `promise` (errors ignored) at most `ms`. */
async function withDeadline(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
