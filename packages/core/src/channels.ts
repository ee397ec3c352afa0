import { requireChannelPrefix, requireHubName } from './validate.js';

/** What a backplane channel serves. */
export type ChannelTarget =
  | { readonly kind: 'all' }
  | { readonly kind: 'group' | 'user' | 'server'; readonly name: string };

/**
 * The kind of a backplane channel, for counting without naming it: `all`, a `group`, a `user`, a
 * `server`'s inbox (connection sends, group commands and their acks, client results, probes), the
 * servers' `presence` heartbeats and presence queries, or `other` (no channel of this prefix and hub: the manager never
 * publishes or subscribes to one).
 */
export type ChannelKind = 'all' | 'group' | 'user' | 'server' | 'presence' | 'other';

/**
 * The one owner of backplane channel names: `{prefix}{hub}:{kind}[:{name}]`.
 * Names are literal everywhere (drivers never use pattern subscriptions), so a group called `*` is a group
 * called `*`. The `group:`, `user:` and `server:` infixes keep a group and a user of the same name apart.
 *
 * The grammar is prefix-free: the prefix is one non-empty segment ending with ':' and the hub has no ':',
 * so the prefix is everything up to the first ':' of a channel name and the hub everything up to the
 * second. Different (prefix, hub) pairs therefore never produce the same name, whatever the group or user
 * names; the constructor refuses anything else with `InvalidArgumentError`.
 */
export class Channels {
  readonly #base: string;
  readonly #group: string;
  readonly #user: string;
  readonly #server: string;
  /** Every server subscribes; `sendAll` and `sendAllExcept`. */
  readonly all: string;
  /** Heartbeats of the servers, where the driver cannot count receivers. */
  readonly presence: string;
  /** Presence queries every server answers (connection, group and user counts and lists). */
  readonly presenceQuery: string;

  constructor(prefix: string, hub: string) {
    requireChannelPrefix(prefix);
    requireHubName(hub);
    this.#base = `${prefix}${hub}:`;
    this.all = `${this.#base}all`;
    this.presence = `${this.#base}internal:presence`;
    this.presenceQuery = `${this.#base}internal:presence-query`;
    this.#group = `${this.#base}group:`;
    this.#user = `${this.#base}user:`;
    this.#server = `${this.#base}server:`;
  }

  group(name: string): string {
    return `${this.#base}group:${name}`;
  }

  user(userId: string): string {
    return `${this.#base}user:${userId}`;
  }

  /**
   * A server's inbox: connection-targeted sends, group commands and their acks, client results, probes,
   * presence answers.
   */
  server(serverId: string): string {
    return `${this.#base}server:${serverId}`;
  }

  /** The session store's key for a session record (a key, not a channel: nothing is published on it). */
  sessionKey(sessionKey: string): string {
    return `${this.#base}session:${sessionKey}`;
  }

  /** The kind of a channel, for counts by kind (a few string comparisons, nothing allocated). */
  kind(channel: string): ChannelKind {
    if (channel === this.all) return 'all';
    if (channel.startsWith(this.#group)) return 'group';
    if (channel.startsWith(this.#server)) return 'server';
    if (channel.startsWith(this.#user)) return 'user';
    if (channel === this.presence || channel === this.presenceQuery) return 'presence';
    return 'other';
  }

  /** What a channel of this prefix and hub serves, for reconciliation; `undefined` for foreign channels. */
  describe(channel: string): ChannelTarget | undefined {
    if (!channel.startsWith(this.#base)) return undefined;
    const rest = channel.slice(this.#base.length);
    if (rest === 'all') return { kind: 'all' };
    for (const kind of ['group', 'user', 'server'] as const) {
      if (rest.startsWith(`${kind}:`)) return { kind, name: rest.slice(kind.length + 1) };
    }
    return undefined;
  }

  /** Whether a channel name belongs to this prefix and hub (exactly: the grammar is prefix-free). */
  owns(channel: string): boolean {
    return channel.startsWith(this.#base);
  }
}
