import type { Observable } from 'rxjs';

/**
 * The state of a driver's link to its broker, as a typed union stream.
 * - `connecting`: first connection under way.
 * - `connected`: publishes and subscriptions work.
 * - `degraded`: connected, but something the sends need is off (some cluster shards unreachable, a durable
 *   log that does not acknowledge); `reason` says what. Core treats it as down (publishes wait in the
 *   outbox, bounded and reported) and sends nothing through the link meanwhile, so the driver watches the
 *   degraded part itself and reports `connected` once it works again.
 * - `disconnected`: the link is down; the driver is reconnecting.
 * - `closed`: `close()` was called; terminal.
 */
export type DriverState =
  | { readonly type: 'connecting' }
  | { readonly type: 'connected' }
  | { readonly type: 'degraded'; readonly reason: string }
  | { readonly type: 'disconnected'; readonly error?: Error }
  | { readonly type: 'closed' };

/** The `type` of a `DriverState`. */
export type DriverStateType = DriverState['type'];

/** What a broker can do; core adapts to these flags instead of asking which driver it talks to. */
export interface DriverCapabilities {
  /** `publish` resolves with the number of subscribers that received the message. */
  readonly receiverCount: boolean;
  /**
   * The driver keeps a bounded, replayable log of what was published and implements
   * {@link DurableDriver}; core reads it only through {@link isDurableDriver}.
   */
  readonly durable: boolean;
  /** Subscribing to one channel costs the broker and this server only that channel's traffic. */
  readonly perChannelSubscriptions: boolean;
  /** Channels are spread over shards (Redis Cluster sharded pub/sub), so throughput grows with shards. */
  readonly sharded: boolean;
}

/**
 * A place in a channel's durable log: the driver's own string (Redis entry ids, JetStream sequences,
 * Kafka `partition:offset`). {@link LOG_START} is before the first entry.
 */
export type LogPosition = string;

/** The position before a channel's first log entry. */
export const LOG_START: LogPosition = '0-0';

/**
 * Called for each message that arrives on a subscribed channel. Must not throw; core guarantees it.
 * `position` is the message's place in the channel's durable log: a {@link DurableDriver} passes it
 * with every message it logged, and core's receive path advances its replay point by it.
 */
export type MessageHandler = (channel: string, payload: Uint8Array, position?: LogPosition) => void;

/** One entry of a channel's durable log. */
export interface LogEntry {
  readonly position: LogPosition;
  readonly payload: Uint8Array;
}

/**
 * The driver contract: a driver moves bytes on named, literal channels and reports its state.
 * It knows nothing of hubs, groups or envelopes. Drivers extend {@link DriverBase} rather than implement
 * this interface by hand.
 */
export interface Driver {
  /** A short name for logs and health output, e.g. `memory`, `redis`. */
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  /** Replays the current state to every subscriber, then every change. */
  readonly state$: Observable<DriverState>;
  /** The current state. */
  readonly state: DriverState;
  /** Opens the link. Resolves once connected; rejects with a `BrokerError` if it cannot connect. */
  connect(): Promise<void>;
  /** Closes the link for good. Idempotent. */
  close(): Promise<void>;
  /**
   * Publishes `payload` on `channel` (a literal name, never a pattern).
   * @returns the number of receivers when `capabilities.receiverCount`, else `undefined`.
   */
  publish(channel: string, payload: Uint8Array): Promise<number | undefined>;
  /** Subscribes to a literal channel. Resolves once the broker confirmed the subscription. */
  subscribe(channel: string): Promise<void>;
  /** Unsubscribes from a channel. Unsubscribing from a channel not subscribed is a no-op. */
  unsubscribe(channel: string): Promise<void>;
  /** Sets the single receiver of every message on every subscribed channel. */
  setMessageHandler(handler: MessageHandler): void;
}

/**
 * A driver with a bounded, replayable log per channel: what durable mode needs. Tell one apart with
 * {@link isDurableDriver}; the message handler of such a driver receives each logged message's
 * {@link LogPosition}.
 */
export interface DurableDriver extends Driver {
  /**
   * Appends to the channel's bounded log and publishes, atomically; the message carries its position.
   * `key` identifies the message: core passes the same key on every attempt of one envelope (a retry after
   * an ack that never came) and a different one for every other envelope; letters, digits and ':' only, at
   * most 64 characters. A log that de-duplicates by id (JetStream's message id) stores one copy however
   * often a retry sends it; a driver without such a log may ignore it (receivers drop duplicates anyway).
   * A durable publish must settle: waiting for the log's acknowledgement is bounded by the driver.
   */
  publishDurable(channel: string, payload: Uint8Array, key?: string): Promise<number | undefined>;
  /**
   * Log entries after `after` (exclusive), oldest first, at most `limit`. {@link LOG_START} means before
   * the first entry. `complete` is false when entries after `after` may have been removed; core also
   * judges by the envelopes' sequence numbers, so a driver that cannot tell returns true.
   */
  readLog(
    channel: string,
    after: LogPosition,
    limit: number,
  ): Promise<{ entries: LogEntry[]; complete: boolean }>;
  /** The position of the newest entry of the channel's log (where a new reader starts). */
  logPosition(channel: string): Promise<LogPosition>;
  /**
   * Orders entries of two channels' logs, for merging them as they were published (an adopted session's
   * replay): negative when the entry at `a` on `channelA` was logged before the one at `b` on `channelB`,
   * positive when after, 0 when the log cannot tell (two partitions; two Redis streams in the same
   * millisecond). Absent: the driver can never tell across channels. Within one channel positions are
   * always ordered, by the log itself.
   */
  comparePositions?(channelA: string, a: LogPosition, channelB: string, b: LogPosition): number;
}

/**
 * Whether `driver` keeps a durable log now: it says so (`capabilities.durable`, which a driver may
 * set per instance, as Redis does with its `durable` option) and has the three log operations.
 */
export function isDurableDriver(driver: Driver): driver is DurableDriver {
  const t = driver as Partial<DurableDriver>;
  return (
    driver.capabilities.durable &&
    typeof t.publishDurable === 'function' &&
    typeof t.readLog === 'function' &&
    typeof t.logPosition === 'function'
  );
}

/**
 * A driver that keeps small records where every server of the app can read them: the session store, which
 * lets a server adopt a client session whose server died or drained (its groups, where its delivery had
 * got to). Optional, like the log: tell one apart with {@link isSessionStoreDriver}. Core owns what the
 * records mean; the driver only keeps bytes under keys.
 *
 * Keys are strings of at most {@link MAX_RECORD_KEY_LENGTH} characters, made by core from the channel
 * prefix, the hub and a session key (so any character a prefix or a session key may hold); a driver
 * whose store restricts key characters encodes them. Values are at most {@link MAX_RECORD_BYTES} bytes.
 */
export interface SessionStoreDriver extends Driver {
  /**
   * Stores `value` under `key`, replacing what was there; the record is kept at least `ttlMs` after this
   * write and may be removed after it (a driver whose store cannot expire single records keeps the
   * deadline with the record and treats an expired one as absent). Resolves once the store accepted it.
   */
  putRecord(key: string, value: Uint8Array, ttlMs: number): Promise<void>;
  /** The value under `key`, or `undefined` when there is none (never written, deleted, or expired). */
  getRecord(key: string): Promise<Uint8Array | undefined>;
  /** Removes the record under `key`; removing a missing record is a no-op. */
  deleteRecord(key: string): Promise<void>;
}

/** The longest key core gives a session store, in UTF-16 code units. */
export const MAX_RECORD_KEY_LENGTH = 1_024;
/** The largest value core gives a session store, in bytes (a session record with its unacknowledged frames). */
export const MAX_RECORD_BYTES = 1_048_576;

/** Whether `driver` keeps records for sessions ({@link SessionStoreDriver}). */
export function isSessionStoreDriver(driver: Driver): driver is SessionStoreDriver {
  const t = driver as Partial<SessionStoreDriver>;
  return (
    typeof t.putRecord === 'function' &&
    typeof t.getRecord === 'function' &&
    typeof t.deleteRecord === 'function'
  );
}
