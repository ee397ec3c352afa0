/**
 * The answer to a presence query, with how complete it is. Values count only the servers that answered:
 * a count is then a lower bound, a list may lack entries, `isUserOnline` may say `false` for a user whose
 * only connections are on a server that did not answer.
 */
export interface PresenceResult<T> {
  /** The answer, from every server that answered in time. */
  readonly value: T;
  /**
   * `true` when a server expected to answer did not within the deadline (or the query could not be sent,
   * or the asker could not yet tell which servers exist): `missing` and `missingServers` say which.
   */
  readonly partial: boolean;
  /** How many servers answered, this one included when it is a server. */
  readonly servers: number;
  /**
   * How many servers expected to answer did not; `undefined` when nobody can tell (the query could not be
   * published, or, where the driver cannot count receivers, no server that answered had listened to the
   * others' heartbeats long enough yet).
   */
  readonly missing: number | undefined;
  /**
   * The ids of those servers, where they are known: with drivers that cannot count receivers (NATS,
   * Kafka), where servers announce themselves, and for `connectionGroups` (the connection's owner). With
   * drivers that count receivers (Redis, memory) only their number is known and this list is empty.
   */
  readonly missingServers: readonly string[];
  /** A list query (`userConnections`, `connectionGroups`) was cut at `maxPresenceResults` by a server. */
  readonly truncated: boolean;
}

/** Options of one presence query. */
export interface PresenceQueryOptions {
  /**
   * How long to wait for the servers' answers, in ms: past it the query resolves with what arrived,
   * marked `partial`. A query resolves as soon as every expected server answered.
   * @default the manager's or context's `presenceTimeout` (1_000 ms)
   */
  timeout?: number;
  /** Gives up: the query rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Who is online across every server of a hub: `manager.presence`, `context.presence`, and `this.presence`
 * in a hub method. Each query asks every server for its own connections (scatter-gather over the
 * backplane, nothing stored anywhere else) and resolves when all expected servers answered, or at the
 * deadline with `partial: true`. Bad input rejects with `InvalidArgumentError` (over-long names with
 * `LimitExceededError`), a closed manager or context with `ClosedError`.
 */
export interface HubPresence {
  /** How many connections the hub has, on every server. */
  connectionCount(options?: PresenceQueryOptions): Promise<PresenceResult<number>>;
  /** How many connections are in a group. */
  groupCount(groupName: string, options?: PresenceQueryOptions): Promise<PresenceResult<number>>;
  /** How many connections a user has. */
  userConnectionCount(userId: string, options?: PresenceQueryOptions): Promise<PresenceResult<number>>;
  /**
   * Whether a user has a connection on any server. Resolves `true` (complete) as soon as one server counts
   * one; `false` needs every expected server's answer.
   */
  isUserOnline(userId: string, options?: PresenceQueryOptions): Promise<PresenceResult<boolean>>;
  /** The connection ids of a user, at most `maxPresenceResults` per server (`truncated` otherwise). */
  userConnections(userId: string, options?: PresenceQueryOptions): Promise<PresenceResult<string[]>>;
  /**
   * The groups a connection is in, asked of its owner only; `undefined` when the connection exists
   * nowhere. At most `maxPresenceResults` (`truncated` otherwise).
   */
  connectionGroups(
    connectionId: string,
    options?: PresenceQueryOptions,
  ): Promise<PresenceResult<string[] | undefined>>;
}
