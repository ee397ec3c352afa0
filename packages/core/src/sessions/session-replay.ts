import type { Channels } from '../channels.js';
import type { DurableDriver, LogPosition } from '../driver.js';
import type { Envelope } from '../envelope.js';
import { decodeEnvelope } from '../envelope-codec.js';
import type { PendingFrames } from './session-record.js';

/** Log entries read per request while replaying a session. */
const PAGE = 500;
/** Pages read per channel at most (a session away longer than this much traffic is not replayed in full). */
const MAX_PAGES = 200;

/** Who a replay is for: the connection, its protocol, user and groups. */
export interface ReplayTarget {
  readonly connectionId: string;
  readonly protocol: string;
  readonly userId: string | undefined;
  readonly groups: ReadonlySet<string>;
}

/** A frame found for the session in a log, with where it came from. */
interface Found {
  readonly channel: string;
  readonly position: LogPosition;
  readonly frame: Uint8Array;
}

/** What a replay found: the frames in order, the entries they came from, and whether it is complete. */
export interface SessionReplayResult {
  readonly frames: Uint8Array[];
  /** `channel\u0000position` of every log entry replayed, so live copies of them are dropped. */
  readonly delivered: Set<string>;
  /** Why it may be incomplete (`undefined`: complete). */
  readonly incomplete: string | undefined;
}

/** The key of a log entry in {@link SessionReplayResult.delivered}. */
export function entryKey(channel: string, position: LogPosition): string {
  return `${channel}\u0000${position}`;
}

/**
 * Reads back, from the channels' durable logs, what a session's record says it may lack: first its pending
 * frames (bytes as they are; runs found again in their channel's log), then, per channel, every entry after
 * the record's position that is addressed to the session, merged across channels in the order the driver
 * can tell ({@link DurableDriver.comparePositions}).
 */
export class SessionReplay {
  readonly #driver: DurableDriver;
  readonly #channels: Channels;
  readonly #target: ReplayTarget;
  readonly #delivered = new Set<string>();
  /** `sendGroups` batches seen, so a batch logged on several of its group channels is sent once. */
  readonly #batches = new Set<string>();
  #incomplete: string | undefined;

  constructor(driver: DurableDriver, channels: Channels, target: ReplayTarget) {
    this.#driver = driver;
    this.#channels = channels;
    this.#target = target;
  }

  async run(
    pending: readonly PendingFrames[],
    positions: Readonly<Record<string, LogPosition>>,
    channels: readonly string[],
  ): Promise<SessionReplayResult> {
    const frames: Uint8Array[] = [];
    for (const item of pending) {
      if (item instanceof Uint8Array) frames.push(item);
      else
        for (const found of await this.#read(item.channel, item.after, item.count)) frames.push(found.frame);
    }
    const lists: Found[][] = [];
    for (const channel of channels) {
      const after = positions[channel];
      if (after === undefined) {
        this.#incomplete ??= `no log position for ${this.#channels.kind(channel)} channel`;
        continue;
      }
      lists.push(await this.#read(channel, after, Number.POSITIVE_INFINITY));
    }
    for (const found of this.#merge(lists)) frames.push(found.frame);
    return { frames, delivered: this.#delivered, incomplete: this.#incomplete };
  }

  /** Up to `count` entries of `channel` after `after` that are addressed to the session (and not seen yet). */
  async #read(channel: string, after: LogPosition, count: number): Promise<Found[]> {
    const found: Found[] = [];
    let from = after;
    let first = true;
    for (let page = 0; found.length < count; page++) {
      if (page >= MAX_PAGES) {
        this.#incomplete ??= 'more to replay than a session replay reads';
        break;
      }
      const { entries, complete } = await this.#driver.readLog(channel, from, PAGE);
      if (first && !complete) this.#incomplete ??= 'the log no longer holds everything since the checkpoint';
      first = false;
      for (const entry of entries) {
        from = entry.position;
        const key = entryKey(channel, entry.position);
        if (this.#delivered.has(key)) continue;
        const frame = this.#frameFor(channel, entry.payload);
        this.#delivered.add(key);
        if (frame) found.push({ channel, position: entry.position, frame });
        if (found.length >= count) break;
      }
      if (entries.length < PAGE) break;
    }
    if (Number.isFinite(count) && found.length < count)
      this.#incomplete ??= 'frames the client had not acknowledged are no longer in the log';
    return found;
  }

  /** The frame of a logged message for this session, or `undefined` when it is not addressed to it. */
  #frameFor(channel: string, payload: Uint8Array): Uint8Array | undefined {
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(payload, channel);
    } catch {
      return undefined; // garbage on the channel: the live path counted it already
    }
    if (envelope.kind !== 'invocation') return undefined;
    const { connectionId, groups } = this.#target;
    const kind = this.#channels.kind(channel);
    if (kind === 'server') {
      // A client result asked of the old server is not asked again: its asker has given up on it.
      if (envelope.invocationId !== undefined || !envelope.connectionIds?.includes(connectionId))
        return undefined;
    } else if (envelope.groups) {
      if (!envelope.groups.some((g) => groups.has(g))) return undefined;
      if (envelope.batch !== undefined) {
        const batch = `${envelope.origin}:${envelope.epoch}:${envelope.batch}`;
        if (this.#batches.has(batch)) return undefined;
        this.#batches.add(batch);
      }
    } else if (envelope.exclude?.includes(connectionId)) return undefined;
    return envelope.payloads.get(this.#target.protocol);
  }

  /** Merges per-channel lists (each in log order) in the order the driver can tell; ties noted. */
  #merge(lists: Found[][]): Found[] {
    const nonEmpty = lists.filter((l) => l.length > 0);
    if (nonEmpty.length <= 1) return nonEmpty[0] ?? [];
    const compare = this.#driver.comparePositions?.bind(this.#driver);
    if (!compare) {
      this.#incomplete ??= 'messages came on several channels and the log cannot order them';
      return nonEmpty.flat();
    }
    const heads = nonEmpty.map(() => 0);
    const merged: Found[] = [];
    for (;;) {
      let best = -1;
      for (let i = 0; i < nonEmpty.length; i++) {
        const candidate = nonEmpty[i]![heads[i]!];
        if (!candidate) continue;
        if (best < 0) {
          best = i;
          continue;
        }
        const current = nonEmpty[best]![heads[best]!]!;
        const order = compare(candidate.channel, candidate.position, current.channel, current.position);
        if (order === 0) this.#incomplete ??= 'messages on several channels could not be ordered';
        if (order < 0) best = i;
      }
      if (best < 0) return merged;
      merged.push(nonEmpty[best]![heads[best]!++]!);
    }
  }
}
