import { Packr } from 'msgpackr';
import type { LogPosition } from '../driver.js';
import { SessionError } from '../errors.js';

/** The version of the session record format; a record of another version is not adopted. */
export const SESSION_RECORD_VERSION = 1;

/**
 * Frames the client may not have, in the order they were sent: a frame's bytes (a send of this server,
 * or any frame outside durable mode), or `count` consecutive frames that came from `channel`'s log, the
 * first after position `after` (found again by reading the log: the next `count` entries addressed to
 * the session).
 */
export type PendingFrames =
  | Uint8Array
  | { readonly channel: string; readonly after: LogPosition; readonly count: number };

/**
 * What the session store keeps of one client session, so that another server can adopt it: who it is,
 * its groups, and where its delivery had got to. Written by the server holding the session at each
 * checkpoint (see `SessionKeeper.save`); read by the server the client reconnects to.
 */
export interface SessionRecord {
  readonly connectionId: string;
  readonly userId: string | undefined;
  /** The hub protocol the client speaks (its frames are written in it). */
  readonly protocol: string;
  /** The server holding the session when the record was written. */
  readonly holder: string;
  readonly groups: readonly string[];
  /** The last server-to-client sequence id the client acknowledged. */
  readonly acked: number;
  /** The client-to-server messages handled (the receive side of the sequence). */
  readonly received: number;
  /** The frames after `acked`, in order (sequence ids `acked + 1` on). */
  readonly pending: readonly PendingFrames[];
  /**
   * Durable mode: per channel of the session, the log position up to which every message was either sent
   * to the client (among `pending` or acknowledged) or not addressed to it; later entries are replayed.
   */
  readonly positions: Readonly<Record<string, LogPosition>>;
  /** When it was written, Unix ms. */
  readonly savedAt: number;
  /** Written by a holder that gave the session up (drain): it sends the client nothing more. */
  readonly final: boolean;
  /**
   * The holder had dropped frames the client never acknowledged (its resend buffer overflowed): a resume
   * would miss them, so the session is not adopted (the client starts afresh).
   */
  readonly overflowed: boolean;
  /**
   * The highest sequence id the holder may send before it writes its next record (at least
   * `acked + pending.length`). The client may hold frames up to it that no record names; an adopter numbers
   * its new frames past it, so the client never takes a new frame for one it already has.
   */
  readonly bound: number;
}

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Encodes a record for the session store (MessagePack, short keys). */
export function encodeSessionRecord(record: SessionRecord): Uint8Array {
  return packr.pack({
    v: SESSION_RECORD_VERSION,
    c: record.connectionId,
    u: record.userId,
    p: record.protocol,
    h: record.holder,
    g: record.groups,
    k: record.acked,
    r: record.received,
    q: record.pending.map((f) => (f instanceof Uint8Array ? f : [f.channel, f.after, f.count])),
    o: record.positions,
    t: record.savedAt,
    f: record.final ? 1 : 0,
    ...(record.overflowed && { x: 1 }),
    y: record.bound,
  });
}

/** Decodes a record read from the session store; a malformed one or another version is a `SessionError`. */
export function decodeSessionRecord(bytes: Uint8Array): SessionRecord {
  let raw: Record<string, unknown>;
  try {
    raw = unpackr.unpack(bytes) as Record<string, unknown>;
  } catch (cause) {
    throw new SessionError('malformed', 'A session record is not valid MessagePack.', { cause });
  }
  const fail = (what: string): never => {
    throw new SessionError('malformed', `A session record is malformed: ${what}.`);
  };
  if (typeof raw !== 'object' || raw === null) return fail('not a map');
  if (raw.v !== SESSION_RECORD_VERSION) return fail(`version ${String(raw.v)}`);
  const text = (value: unknown, name: string) => (typeof value === 'string' ? value : fail(name));
  const count = (value: unknown, name: string) =>
    Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : fail(name);
  const groups = Array.isArray(raw.g) ? raw.g.map((g) => text(g, 'group')) : fail('groups');
  const pending = Array.isArray(raw.q)
    ? raw.q.map((f): PendingFrames => {
        if (f instanceof Uint8Array) return f;
        if (Array.isArray(f) && f.length === 3)
          return {
            channel: text(f[0], 'pending channel'),
            after: text(f[1], 'pending position'),
            count: count(f[2], 'pending count'),
          };
        return fail('pending frame');
      })
    : fail('pending');
  const positions: Record<string, LogPosition> = {};
  if (typeof raw.o !== 'object' || raw.o === null) fail('positions');
  for (const [channel, position] of Object.entries(raw.o as object))
    positions[channel] = text(position, 'position');
  return {
    connectionId: text(raw.c, 'connection id'),
    userId: raw.u === undefined || raw.u === null ? undefined : text(raw.u, 'user id'),
    protocol: text(raw.p, 'protocol'),
    holder: text(raw.h, 'holder'),
    groups,
    acked: count(raw.k, 'acked'),
    received: count(raw.r, 'received'),
    pending,
    positions,
    savedAt: count(raw.t, 'saved at'),
    final: raw.f === 1,
    overflowed: raw.x === 1,
    bound: raw.y === undefined ? count(raw.k, 'acked') + pending.length : count(raw.y, 'bound'),
  };
}
