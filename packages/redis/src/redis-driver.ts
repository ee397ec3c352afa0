import type { Writable } from 'node:stream';
import {
  type BackoffOptions,
  BrokerError,
  DriverBase,
  type DriverCapabilities,
  type DurableDriver,
  type LogEntry,
  type SessionStoreDriver,
} from '@backplane/core';
import { backoffDelay } from '@backplane/core/internal';
import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { type ParsedRedisUrl, parseRedisUrl, type RedisEndpoint, redactRedisUrl } from './redis-url.js';

/** Redis Sentinel: where the sentinels are and which master they watch. */
export interface RedisSentinelOptions {
  /** The sentinels (any subset is enough; ioredis learns the others). */
  sentinels: RedisEndpoint[];
  /** The monitored master's name (`sentinel monitor <name> …`). */
  name: string;
  /** The sentinels' own ACL user, when they require one. @default none */
  sentinelUsername?: string;
  /**
   * The sentinels' own password, when they require one (`requirepass` in sentinel.conf); the data nodes'
   * password goes in `options.password` or the URL. @default none
   */
  sentinelPassword?: string;
}

/** Options of `RedisDriver`. */
export interface RedisDriverOptions {
  /**
   * Redis URL; its scheme picks the topology (see {@link parseRedisUrl}):
   * - `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS): one Redis server;
   * - `redis+cluster://[user:pass@]host:port,host:port,…` (`rediss+cluster://`): Redis Cluster, as `cluster`;
   * - `redis+sentinel://[user:pass@]host:port,host:port/<master name>[/db][?sentinelPassword=…&sentinelUsername=…]`
   *   (`rediss+sentinel://`): the master the sentinels name, as `sentinel`; the credentials are the data
   *   nodes', the query parameters the sentinels' own (when they differ).
   * Ignored with `client`, `cluster` or `sentinel`. A malformed URL throws `InvalidArgumentError`.
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string;
  /**
   * Redis Sentinel: the driver connects to the master the sentinels name and follows a failover (publisher
   * and subscriber reconnect to the promoted replica, subscriptions are restored). Credentials of the data
   * nodes go in `options`. Ignored with `client` or `cluster`.
   * @default none (standalone Redis, or the topology `url` names)
   */
  sentinel?: RedisSentinelOptions;
  /**
   * ioredis options (TLS, username/password, family, …), merged over the URL. The driver sets
   * `retryStrategy`, `maxRetriesPerRequest`, `enableOfflineQueue` and `autoResubscribe` itself.
   * @default {}
   */
  options?: RedisOptions;
  /**
   * An ioredis client the app owns: used to publish, duplicated to subscribe; never closed by backplane.
   * @default none (the driver opens its own two connections)
   */
  client?: Redis;
  /**
   * Redis Cluster startup nodes, or a cluster client the app owns (created with `shardedSubscribers: true`).
   * Cluster mode uses Redis 7 sharded pub/sub (SSUBSCRIBE/SPUBLISH): a message travels only to the shard
   * that owns its channel's slot, so throughput grows with shards. Needs Redis >= 7.0.
   * @default none (standalone Redis)
   */
  cluster?: ClusterNode[] | Cluster;
  /**
   * ioredis cluster options, used with startup nodes (`redisOptions` carries TLS and credentials).
   * @default {}
   */
  clusterOptions?: ClusterOptions;
  /**
   * How long the first `connect()` may take, retries included, in ms; then it rejects with `BrokerError`.
   * @default 10_000
   */
  connectTimeout?: number;
  /**
   * Reconnect delays after the link drops, in ms (exponential with jitter, unlimited attempts).
   * The 1 s ceiling keeps a server that lost Redis from coming back seconds after the others (whatever they
   * publish before it has resubscribed never reaches it); one attempt a second per server costs Redis nothing.
   * @default { initialDelay: 100, maxDelay: 1_000 }
   */
  reconnect?: BackoffOptions;
  /**
   * Keep a bounded log per channel (a Redis Stream named like the channel, appended atomically with the
   * publish by one Lua script) so servers can replay what they missed. Standalone Redis or Sentinel, not Cluster.
   * `maxLength`: entries kept per channel (default 10_000). @default off
   */
  durable?: { maxLength?: number };
  /**
   * ioredis `enableAutoPipelining` on the driver's own clients (not on a `client` or `cluster` instance the
   * app passes). Without Cluster it is not needed: the driver already sends the publishes of one turn of
   * the event loop in one socket write (see {@link RedisDriver}), without ioredis' one-pipeline-at-a-time
   * wait, which tripled the p99 latency at 5k msg/s when measured (benchmarks, scenario 3). With Cluster,
   * where the driver does not coalesce, it groups the publishes of one turn per shard.
   * @default false
   */
  autoPipelining?: boolean;
}

/** XADD + PUBLISH in one step; the published message is 0x00, the entry id, '\n', then the payload. */
const PUBLISH_DURABLE = String.raw`
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '*', 'p', ARGV[1])
return redis.call('PUBLISH', KEYS[1], '\0' .. id .. '\n' .. ARGV[1])
`;

type Client = Redis | Cluster;

/** The default of {@link RedisDriverOptions.reconnect}. */
const DEFAULT_RECONNECT: BackoffOptions = { initialDelay: 100, maxDelay: 1_000 };

/**
 * The Redis driver: a publisher and a subscriber connection, literal SUBSCRIBE only (never PSUBSCRIBE),
 * PUBLISH receiver counts, resubscription after reconnect (ioredis `autoResubscribe`). With a cluster,
 * sharded pub/sub. Publishes fail fast while Redis is unreachable (no hidden offline queue): core's outbox
 * decides what to keep.
 *
 * Without Cluster, the publishes of one turn of the event loop (a burst of sends, the sends of many clients
 * read in one turn, the flush of the outbox) leave in one socket write: the publisher's socket is corked at
 * the turn's first publish and uncorked at the end of the turn (`setImmediate`). Each publish is still its
 * own command with its own reply (receiver count or error), in call order; nothing waits for an earlier
 * reply, so many are in flight at once.
 *
 * Session store: each record is one Redis string under its key (`SET key value PX ttl`), expired by Redis
 * itself; with Cluster, each key lives on the shard of its slot.
 */
export class RedisDriver
  extends DriverBase
  implements SessionStoreDriver, Pick<DurableDriver, 'comparePositions'>
{
  readonly name = 'redis';
  readonly capabilities: DriverCapabilities;
  readonly #options: RedisDriverOptions;
  readonly #sharded: boolean;
  readonly #url: ParsedRedisUrl | undefined;
  #publisher: Client | undefined;
  #subscriber: Client | undefined;
  #ownsPublisher = true;
  #lastError: Error | undefined;
  /** Cluster mode: shards whose sharded-subscriber connection was lost and not yet replaced. */
  readonly #lostShards = new Set<string>();
  /** Own clients that ended without being closed here, and how many restarts each has had since. */
  readonly #restarts = new Map<Client, { attempt: number; timer?: NodeJS.Timeout }>();
  /** The publisher's socket while corked for this turn's publishes (see {@link RedisDriver#coalesce}). */
  #corked: Writable | undefined;
  readonly #uncork = (): void => {
    const stream = this.#corked;
    this.#corked = undefined;
    stream?.uncork();
  };

  constructor(options: RedisDriverOptions = {}) {
    super();
    this.#options = options;
    // Parsed once, here: a malformed URL fails when the driver is created, not on connect.
    this.#url =
      options.client || options.cluster || options.sentinel
        ? undefined
        : parseRedisUrl(options.url ?? 'redis://127.0.0.1:6379');
    this.#sharded = options.cluster !== undefined || this.#url?.mode === 'cluster';
    if (options.durable && this.#sharded)
      throw new BrokerError('Durable mode needs standalone Redis or Sentinel (not a cluster).');
    this.capabilities = {
      receiverCount: true,
      durable: options.durable !== undefined,
      perChannelSubscriptions: true,
      sharded: this.#sharded,
    };
  }

  protected async doConnect(): Promise<void> {
    const { publisher, subscriber } = this.#createClients();
    this.#publisher = publisher;
    this.#subscriber = subscriber;
    const event = this.#sharded ? 'smessageBuffer' : 'messageBuffer';
    subscriber.on(event, (channel: Buffer, message: Buffer) => this.#deliver(channel.toString(), message));
    if (this.#sharded) this.#watchShards(subscriber as Cluster);
    for (const client of new Set([publisher, subscriber])) {
      client.on('ready', () => this.#updateState());
      client.on('close', () => this.#updateState());
      client.on('reconnecting', () => this.#updateState());
      client.on('end', () => {
        this.#updateState();
        this.#restartEnded(client);
      });
      client.on('ready', () => this.#restarts.delete(client));
      client.on('error', (error: Error) => {
        this.#lastError = error; // reported through state$; ioredis keeps reconnecting
      });
    }
    const timeout = this.#options.connectTimeout ?? 10_000;
    try {
      await withTimeout(
        Promise.all([publisher, subscriber].map((c) => ready(c))),
        timeout,
        () => this.#lastError,
      );
    } catch (cause) {
      await this.#shutdown(true);
      throw new BrokerError(`Could not connect to Redis (${this.#describe()}) within ${timeout} ms.`, {
        cause,
      });
    }
    this.#updateState();
  }

  protected async doClose(): Promise<void> {
    await this.#shutdown(false);
  }

  protected async doPublish(channel: string, payload: Uint8Array): Promise<number> {
    const publisher = this.#publisher;
    if (!publisher) throw new BrokerError('Redis driver is not connected.');
    // A cluster queues commands while it reconnects (its offline queue keeps per-shard order): fail fast
    // instead, so core's outbox, not an unbounded ioredis queue, decides what to keep.
    if (this.#sharded && publisher.status !== 'ready') {
      const reason = `Redis Cluster is unreachable (${publisher.status}): SPUBLISH to '${channel}' failed.`;
      throw new BrokerError(reason, { cause: this.#lastError });
    }
    const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    this.#coalesce(publisher);
    try {
      const receivers = this.#sharded
        ? await (publisher as Cluster).spublish(channel, bytes)
        : await publisher.publish(channel, bytes);
      return Number(receivers);
    } catch (cause) {
      throw new BrokerError(`Redis ${this.#sharded ? 'SPUBLISH' : 'PUBLISH'} to '${channel}' failed.`, {
        cause,
      });
    }
  }

  /** Durable mode: XADD and PUBLISH atomically (one Lua script). */
  async publishDurable(channel: string, payload: Uint8Array): Promise<number> {
    const publisher = this.#publisher;
    if (!this.capabilities.durable || !publisher || this.closed)
      throw new BrokerError('Durable publish is not available.');
    const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    this.#coalesce(publisher);
    try {
      return Number(
        await publisher.eval(
          PUBLISH_DURABLE,
          1,
          channel,
          bytes,
          String(this.#options.durable?.maxLength ?? 10_000),
        ),
      );
    } catch (cause) {
      throw new BrokerError(`Redis durable publish to '${channel}' failed.`, { cause });
    }
  }

  /**
   * Holds the publisher's writes until the end of this turn of the event loop (the check phase, after the
   * I/O callbacks and microtasks that issued them), so the publishes of one turn, across every client
   * connection that sent something, go to Redis in one write (Node's `writev`) instead of one system call
   * each. Not with Cluster: there a publish goes to the shard of its channel, over a connection ioredis picks.
   */
  #coalesce(publisher: Client): void {
    if (this.#corked || this.#sharded) return;
    const stream = (publisher as Redis).stream as Writable | undefined;
    if (typeof stream?.cork !== 'function') return;
    stream.cork();
    this.#corked = stream;
    setImmediate(this.#uncork);
  }

  /**
   * Durable mode: the log of `channel` after `after` (exclusive), and whether it is complete: nothing in
   * between was trimmed or deleted, and the log still holds `after` itself. A log that lost `after` without
   * trimming has a new history: Sentinel promoted a replica that had not received the reader's last
   * entries (replication is asynchronous), or Redis restarted without its data. Whatever the reader missed
   * of the old history is gone; core's sequence numbers then report exactly that as a gap.
   */
  async readLog(
    channel: string,
    after: string,
    limit: number,
  ): Promise<{ entries: LogEntry[]; complete: boolean }> {
    const publisher = this.#requirePublisher();
    try {
      const rows = (await publisher.xrangeBuffer(
        channel,
        `(${after}`,
        '+',
        'COUNT',
        limit,
      )) as unknown as Array<[Buffer, Buffer[]]>;
      const entries = rows.map(([id, fields]) => ({
        position: id.toString(),
        payload: fields[1] ?? Buffer.alloc(0),
      }));
      const complete = !(await this.#trimmedAfter(channel, after)) && (await this.#holds(channel, after));
      return { entries, complete };
    } catch (cause) {
      throw new BrokerError(`Reading the log of '${channel}' failed.`, { cause });
    }
  }

  /** Whether the log of `channel` still holds the entry `position` (`0-0`, the start, always). */
  async #holds(channel: string, position: string): Promise<boolean> {
    if (compareIds(position, '0-0') <= 0) return true;
    const rows = (await this.#requirePublisher().xrange(channel, position, position)) as unknown[];
    return rows.length > 0;
  }

  /** Durable mode: the id of the newest entry of `channel`'s log (`0-0` when empty). */
  async logPosition(channel: string): Promise<string> {
    const newest = (await this.#requirePublisher().xrevrange(channel, '+', '-', 'COUNT', 1)) as Array<
      [string, string[]]
    >;
    return newest[0]?.[0] ?? '0-0';
  }

  /**
   * Whether entries after `after` may have been removed: deleted ones (Redis 7 keeps the largest deleted
   * id) or trimmed ones (MAXLEN removes the oldest: once anything was trimmed, an oldest entry newer than
   * `after` means the hole may reach past it).
   */
  async #trimmedAfter(channel: string, after: string): Promise<boolean> {
    const info = (await this.#requirePublisher()
      .call('XINFO', 'STREAM', channel)
      .catch(() => undefined)) as unknown[] | undefined;
    if (!info) return false;
    const field = (name: string) => {
      const at = info.indexOf(name);
      return at >= 0 ? info[at + 1] : undefined;
    };
    if (compareIds(String(field('max-deleted-entry-id') ?? '0-0'), after) > 0) return true;
    const removed = Number(field('entries-added') ?? 0) - Number(field('length') ?? 0);
    const first = field('first-entry') as [unknown, unknown] | undefined;
    const oldest = String(field('recorded-first-entry-id') ?? first?.[0] ?? '0-0');
    return removed > 0 && compareIds(oldest, after) > 0;
  }

  /**
   * Durable mode: orders two entries by their stream ids (`ms-seq`). In one stream, by both parts; across
   * streams, by the millisecond only: two streams written in the same millisecond cannot be ordered (0).
   */
  comparePositions(channelA: string, a: string, channelB: string, b: string): number {
    if (channelA === channelB) return Math.sign(compareIds(a, b));
    const [am = 0] = a.split('-').map(Number);
    const [bm = 0] = b.split('-').map(Number);
    return Math.sign(am - bm);
  }

  /** Session store: `SET key value PX ttlMs`, replacing what was there. */
  async putRecord(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    try {
      await this.#requirePublisher().set(key, bytes, 'PX', Math.max(1, Math.ceil(ttlMs)));
    } catch (cause) {
      throw new BrokerError('Redis SET of a session record failed.', { cause });
    }
  }

  /** Session store: `GET key`, as bytes; `undefined` when Redis has none (never written, deleted, expired). */
  async getRecord(key: string): Promise<Uint8Array | undefined> {
    try {
      return (await this.#requirePublisher().getBuffer(key)) ?? undefined;
    } catch (cause) {
      throw new BrokerError('Redis GET of a session record failed.', { cause });
    }
  }

  /** Session store: `DEL key`. */
  async deleteRecord(key: string): Promise<void> {
    try {
      await this.#requirePublisher().del(key);
    } catch (cause) {
      throw new BrokerError('Redis DEL of a session record failed.', { cause });
    }
  }

  /** Durable messages carry their log position: 0x00, id, '\n', payload. */
  #deliver(channel: string, message: Buffer): void {
    if (message[0] === 0 && this.capabilities.durable) {
      const newline = message.indexOf(0x0a);
      if (newline > 0) {
        this.onMessage(channel, message.subarray(newline + 1), message.subarray(1, newline).toString());
        return;
      }
    }
    this.onMessage(channel, message);
  }

  #requirePublisher(): Client {
    if (!this.#publisher) throw new BrokerError('Redis driver is not connected.');
    return this.#publisher;
  }

  protected async doSubscribe(channel: string): Promise<void> {
    const subscriber = this.#requireSubscriber();
    try {
      if (this.#sharded) await (subscriber as Cluster).ssubscribe(channel);
      else await subscriber.subscribe(channel);
    } catch (cause) {
      throw new BrokerError(`Redis subscribe to '${channel}' failed.`, { cause });
    }
  }

  protected async doUnsubscribe(channel: string): Promise<void> {
    const subscriber = this.#requireSubscriber();
    try {
      if (this.#sharded) await (subscriber as Cluster).sunsubscribe(channel);
      else await subscriber.unsubscribe(channel);
    } catch (cause) {
      throw new BrokerError(`Redis unsubscribe from '${channel}' failed.`, { cause });
    }
  }

  #createClients(): { publisher: Client; subscriber: Client } {
    const o = this.#options;
    const retryStrategy = (attempt: number) => backoffDelay(attempt - 1, o.reconnect ?? DEFAULT_RECONNECT);
    if (o.cluster instanceof Cluster) {
      this.#ownsPublisher = false;
      return { publisher: o.cluster, subscriber: o.cluster.duplicate() };
    }
    const url = this.#url;
    const nodes = o.cluster ?? (url?.mode === 'cluster' ? [...url.nodes] : undefined);
    if (nodes !== undefined) {
      const fromUrl = url?.mode === 'cluster' ? dataNodeOptions(url) : {};
      const cluster = new Cluster(nodes, {
        ...o.clusterOptions,
        redisOptions: { ...fromUrl, ...o.clusterOptions?.redisOptions },
        shardedSubscribers: true,
        lazyConnect: false,
        // Per-shard connections come and go (slot refreshes): failing fast there would let a later
        // publish to the same shard overtake a retried earlier one. ioredis queues until the shard is back.
        enableOfflineQueue: true,
        enableAutoPipelining: o.autoPipelining ?? o.clusterOptions?.enableAutoPipelining ?? false,
        clusterRetryStrategy: retryStrategy,
      });
      return { publisher: cluster, subscriber: cluster };
    }
    if (o.client) {
      this.#ownsPublisher = false;
      return {
        publisher: o.client,
        subscriber: o.client.duplicate({ enableOfflineQueue: true, autoResubscribe: true }),
      };
    }
    const common: RedisOptions = {
      ...this.#topologyOptions(),
      ...o.options,
      retryStrategy,
      maxRetriesPerRequest: null,
      lazyConnect: false,
      // A master demoted to a replica answers writes with READONLY: reconnect, and (with Sentinel) ask the
      // sentinels for the master again. The failing command itself fails (the outbox retries it).
      reconnectOnError: (error) => error.message.startsWith('READONLY'),
    };
    return {
      publisher: new Redis({
        ...common,
        enableOfflineQueue: false,
        enableAutoPipelining: o.autoPipelining ?? false,
      }),
      subscriber: new Redis({ ...common, enableOfflineQueue: true, autoResubscribe: true }),
    };
  }

  /** Where and how to connect: a `sentinel` option, or the URL's standalone or sentinel form. */
  #topologyOptions(): RedisOptions {
    const o = this.#options;
    const url = this.#url;
    const sentinel: RedisSentinelOptions | undefined =
      o.sentinel ??
      (url?.mode === 'sentinel'
        ? {
            sentinels: [...url.sentinels],
            name: url.name,
            ...(url.sentinelUsername !== undefined && { sentinelUsername: url.sentinelUsername }),
            ...(url.sentinelPassword !== undefined && { sentinelPassword: url.sentinelPassword }),
          }
        : undefined);
    const fromUrl: RedisOptions =
      url && url.mode !== 'cluster'
        ? {
            ...dataNodeOptions(url),
            db: url.db,
            ...(url.mode === 'standalone' && { host: url.host, port: url.port }),
          }
        : {};
    if (!sentinel) return fromUrl;
    const tls = url?.mode === 'sentinel' && url.tls;
    return {
      ...fromUrl,
      sentinels: sentinel.sentinels.map(({ host, port }) => ({ host, port })),
      name: sentinel.name,
      role: 'master',
      // The sentinels' +switch-master reaches the client at once, instead of when the old master's
      // connection finally breaks (a partitioned or frozen master would otherwise keep it waiting).
      failoverDetector: true,
      // The ready check (INFO) also checks the node's role: a node that is no longer master is left for
      // the next one the sentinels name.
      enableReadyCheck: true,
      sentinelRetryStrategy: (attempt: number) => backoffDelay(attempt - 1, o.reconnect ?? DEFAULT_RECONNECT),
      ...(sentinel.sentinelUsername !== undefined && { sentinelUsername: sentinel.sentinelUsername }),
      ...(sentinel.sentinelPassword !== undefined && { sentinelPassword: sentinel.sentinelPassword }),
      ...(tls && { enableTLSForSentinelMode: true, sentinelTLS: {} }),
    };
  }

  /**
   * Cluster mode: ioredis keeps one sharded-subscriber connection per master. When one ends (its master
   * died), the cluster as a whole stays `ready`, but the channels of that shard receive nothing until
   * ioredis has found the promoted replica and subscribed there again. The liveness probe travels through
   * one shard only (the one of this server's inbox), so it may not notice: report `degraded` from the loss
   * until ioredis reports its subscribers ready again (new connections made, SSUBSCRIBE reissued on them).
   */
  #watchShards(cluster: Cluster): void {
    cluster.on('-node', (redis: Redis | undefined, key: string) => {
      if (!redis?.options.connectionName?.startsWith('ioredis-cluster(ssubscriber)')) return;
      this.#lostShards.add(key);
      this.#updateState();
    });
    cluster.on('subscribersReady', () => {
      // Emitted after every regrouping, also when a new connection failed (the dead master is still in
      // the slot map until a replica is promoted): clear only once every started subscriber is connected.
      if (!shardedSubscribersUp(cluster)) return;
      this.#lostShards.clear();
      this.#updateState();
    });
  }

  /**
   * ioredis gives a client up for good (status `end`) not only on `quit()`: with Sentinel, a failover
   * announced (`+switch-master`) while the client is asking a sentinel for the master aborts that lookup,
   * and the aborted connect ends the client instead of retrying. Nothing would reconnect it: the link
   * would stay down for the life of the server while the cluster is healthy. A client of ours that ends
   * while the driver is open is connected again, after the reconnect backoff.
   */
  #restartEnded(client: Client): void {
    const owned = client === this.#subscriber || (client === this.#publisher && this.#ownsPublisher);
    if (this.closed || !owned) return;
    const restart = this.#restarts.get(client) ?? { attempt: 0 };
    this.#restarts.set(client, restart);
    clearTimeout(restart.timer);
    const delay = backoffDelay(restart.attempt++, this.#options.reconnect ?? DEFAULT_RECONNECT);
    restart.timer = setTimeout(() => {
      restart.timer = undefined;
      const stillOwned = client === this.#subscriber || client === this.#publisher;
      if (this.closed || !stillOwned || client.status !== 'end') return;
      // A failed attempt ends the client again, which schedules the next one.
      client.connect().catch((error: Error) => {
        this.#lastError = error;
      });
    }, delay);
    restart.timer.unref();
  }

  #updateState(): void {
    const clients = [this.#publisher, this.#subscriber].filter((c): c is Client => c !== undefined);
    if (clients.length === 0 || this.closed) return;
    const statuses = clients.map((c) => c.status);
    if (statuses.every((s) => s === 'ready') && this.#lostShards.size > 0)
      this.setState({
        type: 'degraded',
        reason: `sharded subscription to ${[...this.#lostShards].join(', ')} lost, resubscribing`,
      });
    else if (statuses.every((s) => s === 'ready')) this.setState({ type: 'connected' });
    else if (statuses.some((s) => s === 'end' || s === 'close' || s === 'reconnecting'))
      this.setState({ type: 'disconnected', ...(this.#lastError && { error: this.#lastError }) });
  }

  async #shutdown(force: boolean): Promise<void> {
    this.#uncork(); // this turn's publishes (a goodbye, say) go out before QUIT
    const owned = new Set<Client>();
    if (this.#subscriber) owned.add(this.#subscriber);
    if (this.#publisher && this.#ownsPublisher) owned.add(this.#publisher);
    this.#publisher = undefined;
    this.#subscriber = undefined;
    for (const { timer } of this.#restarts.values()) clearTimeout(timer);
    this.#restarts.clear();
    await Promise.all(
      [...owned].map(async (client) => {
        if (force || client.status !== 'ready') {
          client.disconnect();
          return;
        }
        try {
          await withTimeout(client.quit(), 1_000, () => undefined);
        } catch {
          client.disconnect();
        }
      }),
    );
  }

  #requireSubscriber(): Client {
    if (!this.#subscriber) throw new BrokerError('Redis driver is not connected.');
    return this.#subscriber;
  }

  #describe(): string {
    const o = this.#options;
    if (o.cluster)
      return Array.isArray(o.cluster) ? `cluster ${o.cluster.map(describeNode).join(',')}` : 'app cluster';
    if (o.client) return 'app client';
    if (o.sentinel)
      return `sentinel master '${o.sentinel.name}' via ${o.sentinel.sentinels.map(describeNode).join(',')}`;
    return redactRedisUrl(o.url ?? 'redis://127.0.0.1:6379');
  }
}

/** Creates a Redis driver (see {@link RedisDriverOptions}). */
export function createRedisDriver(options?: RedisDriverOptions): RedisDriver {
  return new RedisDriver(options);
}

function ready(client: Client): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => client.once('ready', () => resolve()));
}

async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  lastError: () => Error | undefined,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(lastError() ?? new Error(`timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Orders Redis stream ids (`ms-seq`). */
function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am === bm ? as - bs : am - bm;
}

function describeNode(node: ClusterNode): string {
  return typeof node === 'object' ? `${node.host ?? '127.0.0.1'}:${node.port ?? 6379}` : String(node);
}

/** The part of ioredis' (untyped) cluster subscriber group read by {@link shardedSubscribersUp}. */
interface SubscriberGroupView {
  readonly shardedSubscribers?: {
    readonly shardedSubscribers?: ReadonlyMap<string, { readonly subscriberStatus?: string }>;
  };
}

/**
 * Whether every sharded subscriber ioredis started is connected (`idle` ones have no channel to serve).
 * Reads ioredis 5.10 internals; if they are not there, trusts `subscribersReady` alone.
 */
function shardedSubscribersUp(cluster: Cluster): boolean {
  const subscribers = (cluster as unknown as SubscriberGroupView).shardedSubscribers?.shardedSubscribers;
  if (!(subscribers instanceof Map)) return true;
  for (const subscriber of subscribers.values())
    if (subscriber.subscriberStatus !== 'connected' && subscriber.subscriberStatus !== 'idle') return false;
  return true;
}

/** ioredis options for the data nodes from a parsed URL: credentials and TLS. */
function dataNodeOptions(url: ParsedRedisUrl): RedisOptions {
  return {
    ...(url.username !== undefined && { username: url.username }),
    ...(url.password !== undefined && { password: url.password }),
    ...(url.tls && { tls: {} }),
  };
}
