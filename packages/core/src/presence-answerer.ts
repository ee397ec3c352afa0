import type { Channels } from './channels.js';
import type { Driver } from './driver.js';
import {
  ENVELOPE_VERSION,
  type Envelope,
  type PresenceAnswerBody,
  type PresenceQueryBody,
  type PresenceQueryKind,
} from './envelope.js';
import { encodeEnvelope } from './envelope-codec.js';
import type { LocalConnections } from './local-connections.js';
import type { Logger } from './logger.js';
import type { PublisherIdentity } from './publisher.js';
import type { BackplaneStats } from './stats.js';

/** One server's part of a presence answer: its count and, for the list queries, up to `limit` ids. */
export interface LocalAnswer {
  readonly count: number;
  readonly ids?: readonly string[];
}

export interface PresenceAnswererOptions {
  readonly serverId: string;
  readonly epoch: string;
  readonly channels: Channels;
  readonly connections: LocalConnections;
  /** Answers go straight to the driver: never buffered, a late answer is worth nothing. */
  readonly driver: Pick<Driver, 'publish'>;
  readonly stats: BackplaneStats;
  readonly log: Logger;
  /** See `HubLifetimeManagerOptions.maxPresenceResults`: the most ids in one answer, whoever asks. */
  readonly maxResults: number;
  /**
   * Where the driver cannot count receivers: the other servers this one knows to be alive, sent with each
   * answer so the asker knows whom to wait for; `undefined` while this server cannot tell yet.
   */
  readonly peers: () => readonly string[] | undefined;
}

/**
 * The answering side of presence queries: this server's own connections, groups and users, read from
 * {@link LocalConnections} at the moment the query arrives (nothing is kept for presence beyond what
 * delivery already keeps). Every server answers every query it receives, to the asker's inbox.
 */
export class PresenceAnswerer {
  readonly #options: PresenceAnswererOptions;

  constructor(options: PresenceAnswererOptions) {
    this.#options = options;
  }

  /** This server's answer to a query (also its own part of the queries it asks). */
  answer(query: PresenceQueryKind, name: string | undefined, limit: number): LocalAnswer {
    const { connections, channels } = this.#options;
    const max = Math.min(limit, this.#options.maxResults);
    switch (query) {
      case 'connections':
        return { count: connections.size };
      case 'group':
        return { count: connections.members(channels.group(name ?? '')).size };
      case 'user':
        return { count: connections.members(channels.user(name ?? '')).size };
      case 'user-connections': {
        const members = connections.members(channels.user(name ?? ''));
        return { count: members.size, ids: first(members, max) };
      }
      case 'connection-groups': {
        const local = connections.get(name ?? '');
        if (!local) return { count: 0 };
        const groups = local.groups ?? EMPTY;
        return { count: groups.size, ids: first(groups, max) };
      }
    }
  }

  /** A query from another server (or a hub context): answer it on the asker's inbox. */
  receive(query: Envelope & PresenceQueryBody): void {
    const { channels, log } = this.#options;
    const local = this.answer(query.query, query.name, query.limit);
    const peers = this.#options.peers();
    const body: PresenceAnswerBody = {
      kind: 'presence-answer',
      id: query.id,
      ...local,
      ...(peers && { peers }),
    };
    sendUnsequenced(this.#options, channels.server(query.origin), body).catch((error: unknown) =>
      log.debug('Could not answer a presence query', { origin: query.origin, error }),
    );
  }
}

/**
 * Publishes a presence query or answer straight to the driver, unsequenced (`seq` 0: receivers leave it
 * out of gap detection), never through the outbox.
 */
export function sendUnsequenced(
  options: PublisherIdentity & { readonly driver: Pick<Driver, 'publish'>; readonly stats: BackplaneStats },
  channel: string,
  body: PresenceQueryBody | PresenceAnswerBody,
): Promise<number | undefined> {
  const { serverId, epoch } = options;
  const bytes = encodeEnvelope({ v: ENVELOPE_VERSION, origin: serverId, epoch, seq: 0, ...body });
  options.stats.published++;
  return options.driver.publish(channel, bytes);
}

function first(values: Iterable<string>, max: number): string[] {
  const out: string[] = [];
  if (max <= 0) return out;
  for (const value of values) {
    out.push(value);
    if (out.length >= max) break;
  }
  return out;
}

const EMPTY: ReadonlySet<string> = new Set();
