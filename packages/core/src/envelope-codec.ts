import { Packr } from 'msgpackr';
import {
  type CompletionOutcome,
  ENVELOPE_VERSION,
  type Envelope,
  type EnvelopeHeader,
  type InvocationBody,
  type PresenceQueryKind,
  type ReplyOutcome,
} from './envelope.js';
import { EnvelopeError, type LimitName } from './errors.js';
import { readTraceContext } from './trace-context.js';

// Wire layout (docs/protocol.md): one MessagePack array
//   [v, origin, epoch, seq, kindCode, ...body fields]
// Readers check the minimum length and ignore trailing items, so later versions may append fields (the
// trace context was appended to invocations that way: readers from before it ignore it).
const KIND_CODE = {
  invocation: 1,
  'group-command': 2,
  ack: 3,
  completion: 4,
  probe: 5,
  heartbeat: 6,
  'presence-query': 7,
  'presence-answer': 8,
  request: 9,
  reply: 10,
} as const;
const PRESENCE_QUERIES: readonly PresenceQueryKind[] = [
  'connections',
  'group',
  'user',
  'user-connections',
  'connection-groups',
];
const OUTCOMES: readonly CompletionOutcome[] = ['error', 'void', 'result', 'disconnected', 'not-found'];
const REPLY_OUTCOMES: readonly ReplyOutcome[] = ['ok', 'not-found', 'busy', 'error'];
const LIMIT_NAMES: readonly string[] = [
  'maxGroupNameLength',
  'maxUserIdLength',
  'maxGroupsPerConnection',
] satisfies readonly LimitName[];

function isLimitName(value: unknown): value is LimitName {
  return typeof value === 'string' && LIMIT_NAMES.includes(value);
}

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Encodes an envelope to its binary form. */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  const head: unknown[] = [
    envelope.v,
    envelope.origin,
    envelope.epoch,
    envelope.seq,
    KIND_CODE[envelope.kind],
  ];
  switch (envelope.kind) {
    case 'invocation': {
      const payloads: Record<string, Uint8Array> = {};
      for (const [name, bytes] of envelope.payloads) payloads[name] = bytes;
      head.push(
        payloads,
        envelope.exclude?.length ? envelope.exclude : null,
        envelope.connectionIds?.length ? envelope.connectionIds : null,
        envelope.invocationId ?? null,
        envelope.groups?.length ? envelope.groups : null,
        envelope.batch ?? null,
        envelope.trace?.traceparent ?? null,
        envelope.trace?.tracestate ?? null,
      );
      break;
    }
    case 'group-command':
      head.push(envelope.id, envelope.action === 'add' ? 1 : 2, envelope.group, envelope.connectionId);
      break;
    case 'ack':
      head.push(envelope.id);
      if (envelope.refused) head.push(envelope.refused.limit, envelope.refused.max);
      break;
    case 'probe':
      head.push(envelope.id);
      break;
    case 'heartbeat':
      head.push(envelope.interval);
      if (envelope.adopted?.length) head.push(envelope.adopted);
      break;
    case 'presence-query':
      head.push(
        envelope.id,
        PRESENCE_QUERIES.indexOf(envelope.query) + 1,
        envelope.name ?? null,
        envelope.limit,
      );
      break;
    case 'presence-answer':
      head.push(envelope.id, envelope.count, envelope.ids ?? null, envelope.peers ?? null);
      break;
    case 'request':
      head.push(envelope.id, envelope.connectionId, envelope.ttl, envelope.payload);
      break;
    case 'reply':
      head.push(envelope.id, REPLY_OUTCOMES.indexOf(envelope.outcome) + 1, envelope.payload ?? null);
      break;
    case 'completion':
      head.push(envelope.invocationId, envelope.connectionId, OUTCOMES.indexOf(envelope.outcome) + 1);
      if (envelope.outcome === 'result' || envelope.outcome === 'error') head.push(envelope.value ?? null);
      break;
  }
  while (head.length > 5 && head[head.length - 1] === null) head.pop(); // absent trailing fields cost nothing
  return packr.pack(head);
}

/** Told why an invocation's trace context was left out; the invocation itself decoded. */
export type MalformedTraceHandler = (reason: string) => void;

/**
 * Decodes and validates an envelope. Throws {@link EnvelopeError} for anything that is not a valid
 * envelope of a known version and kind; the receive path catches it, counts it and drops the message.
 * A malformed trace context is not worth a message: the invocation decodes without it, and
 * `malformedTrace` (when given) is told.
 */
export function decodeEnvelope(
  bytes: Uint8Array,
  channel?: string,
  malformedTrace?: MalformedTraceHandler,
): Envelope {
  let raw: unknown;
  try {
    raw = unpackr.unpack(bytes);
  } catch (cause) {
    throw new EnvelopeError('Envelope is not valid MessagePack.', channel, { cause });
  }
  if (!Array.isArray(raw) || raw.length < 5)
    return malformed('expected an array of at least 5 items', channel);
  const f = raw as unknown[];
  const v = f[0];
  const origin = f[1];
  const epoch = f[2];
  const seq = f[3];
  if (v !== ENVELOPE_VERSION) return malformed(`unsupported version ${String(v)}`, channel);
  if (typeof origin !== 'string' || origin === '')
    return malformed('origin must be a non-empty string', channel);
  if (typeof epoch !== 'string') return malformed('epoch must be a string', channel);
  if (!isCount(seq)) return malformed('seq must be a non-negative integer', channel);
  // Body fields start at index 5 (see the wire layout above).
  switch (f[4]) {
    case KIND_CODE.invocation:
      return decodeInvocation(f, { v, origin, epoch, seq }, channel, malformedTrace);
    case KIND_CODE['group-command']: {
      const id = f[5];
      const action = f[6];
      const group = f[7];
      const connectionId = f[8];
      if (!isCount(id)) return malformed('group command id must be a non-negative integer', channel);
      if (action !== 1 && action !== 2) return malformed('group command action must be 1 or 2', channel);
      if (typeof group !== 'string' || typeof connectionId !== 'string')
        return malformed('group command group and connectionId must be strings', channel);
      return {
        v,
        origin,
        epoch,
        seq,
        kind: 'group-command',
        id,
        action: action === 1 ? 'add' : 'remove',
        group,
        connectionId,
      };
    }
    case KIND_CODE.ack:
    case KIND_CODE.probe: {
      const id = f[5];
      if (!isCount(id)) return malformed('id must be a non-negative integer', channel);
      if (f[4] === KIND_CODE.probe) return { v, origin, epoch, seq, kind: 'probe', id };
      // A refusal names the limit and its value; anything else there is a later version's field.
      const limit = f[6];
      const max = f[7];
      if (isLimitName(limit) && isCount(max))
        return { v, origin, epoch, seq, kind: 'ack', id, refused: { limit, max } };
      return { v, origin, epoch, seq, kind: 'ack', id };
    }
    case KIND_CODE.heartbeat: {
      const interval = f[5];
      const adopted = f[6];
      if (!isCount(interval)) return malformed('heartbeat interval must be a non-negative integer', channel);
      // The heartbeat is what keeps its sender alive: a list that does not read is left out, not fatal.
      return {
        v,
        origin,
        epoch,
        seq,
        kind: 'heartbeat',
        interval,
        ...(isStringArray(adopted) && { adopted }),
      };
    }
    case KIND_CODE['presence-query']: {
      const id = f[5];
      const query = typeof f[6] === 'number' ? PRESENCE_QUERIES[f[6] - 1] : undefined;
      const name = f[7];
      const limit = f[8];
      if (!isCount(id)) return malformed('presence query id must be a non-negative integer', channel);
      if (!query) return malformed('unknown presence query', channel);
      if (!isCount(limit)) return malformed('presence query limit must be a non-negative integer', channel);
      if (query === 'connections') {
        if (name != null) return malformed('a connections query names nothing', channel);
        return { v, origin, epoch, seq, kind: 'presence-query', id, query, limit };
      }
      if (typeof name !== 'string') return malformed('presence query name must be a string', channel);
      return { v, origin, epoch, seq, kind: 'presence-query', id, query, name, limit };
    }
    case KIND_CODE['presence-answer']: {
      const id = f[5];
      const count = f[6];
      const ids = f[7];
      const peers = f[8];
      if (!isCount(id)) return malformed('presence answer id must be a non-negative integer', channel);
      if (!isCount(count)) return malformed('presence answer count must be a non-negative integer', channel);
      return {
        v,
        origin,
        epoch,
        seq,
        kind: 'presence-answer',
        id,
        count,
        ...(ids != null && { ids: stringArray(ids, 'presence answer ids', channel) }),
        ...(peers != null && { peers: stringArray(peers, 'presence answer peers', channel) }),
      };
    }
    case KIND_CODE.completion: {
      const invocationId = f[5];
      const connectionId = f[6];
      const outcomeCode = f[7];
      const value = f[8];
      if (typeof invocationId !== 'string' || typeof connectionId !== 'string')
        return malformed('completion invocationId and connectionId must be strings', channel);
      const outcome = typeof outcomeCode === 'number' ? OUTCOMES[outcomeCode - 1] : undefined;
      if (!outcome) return malformed('unknown completion outcome', channel);
      if (outcome === 'error' && typeof value !== 'string')
        return malformed('completion error must be a string', channel);
      return { v, origin, epoch, seq, kind: 'completion', invocationId, connectionId, outcome, value };
    }
    case KIND_CODE.request: {
      const id = f[5];
      const connectionId = f[6];
      const ttl = f[7];
      const payload = f[8];
      if (!isCount(id) || !isCount(ttl))
        return malformed('request id and ttl must be non-negative integers', channel);
      if (typeof connectionId !== 'string')
        return malformed('request connectionId must be a string', channel);
      if (!(payload instanceof Uint8Array)) return malformed('request payload must be binary', channel);
      return { v, origin, epoch, seq, kind: 'request', id, connectionId, ttl, payload };
    }
    case KIND_CODE.reply: {
      const id = f[5];
      const outcomeCode = f[6];
      const payload = f[7];
      if (!isCount(id)) return malformed('reply id must be a non-negative integer', channel);
      const outcome = typeof outcomeCode === 'number' ? REPLY_OUTCOMES[outcomeCode - 1] : undefined;
      if (!outcome) return malformed('unknown reply outcome', channel);
      if (payload != null && !(payload instanceof Uint8Array))
        return malformed('reply payload must be binary', channel);
      if (outcome === 'ok') {
        if (payload == null) return malformed('an ok reply needs a payload', channel);
        return { v, origin, epoch, seq, kind: 'reply', id, outcome, payload };
      }
      return { v, origin, epoch, seq, kind: 'reply', id, outcome };
    }
    default:
      return malformed(`unknown kind ${String(f[4])}`, channel);
  }
}

function ignore(): void {}

function malformed(what: string, channel: string | undefined): never {
  throw new EnvelopeError(`Malformed envelope: ${what}.`, channel);
}

function decodeInvocation(
  f: unknown[],
  header: EnvelopeHeader,
  channel: string | undefined,
  malformedTrace: MalformedTraceHandler | undefined,
): Envelope {
  // Indexed reads, not destructuring: this runs for every message a server receives.
  const rawPayloads = f[5];
  if (typeof rawPayloads !== 'object' || rawPayloads === null || Array.isArray(rawPayloads))
    return malformed('invocation payloads must be a map', channel);
  const payloads = new Map<string, Uint8Array>();
  for (const name in rawPayloads) {
    const bytes = (rawPayloads as Record<string, unknown>)[name];
    if (!(bytes instanceof Uint8Array)) return malformed(`payload '${name}' must be binary`, channel);
    payloads.set(name, bytes);
  }
  const envelope: { -readonly [K in keyof InvocationBody]: InvocationBody[K] } & EnvelopeHeader = {
    v: header.v,
    origin: header.origin,
    epoch: header.epoch,
    seq: header.seq,
    kind: 'invocation',
    payloads,
  };
  if (f.length <= 6) return envelope;
  const exclude = f[6];
  const connectionIds = f[7];
  const invocationId = f[8];
  const groups = f[9];
  const batch = f[10];
  if (exclude != null) envelope.exclude = stringArray(exclude, 'exclude', channel);
  if (connectionIds != null) envelope.connectionIds = stringArray(connectionIds, 'connectionIds', channel);
  if (invocationId != null) {
    if (typeof invocationId !== 'string') return malformed('invocationId must be a string', channel);
    envelope.invocationId = invocationId;
  }
  if (groups != null) envelope.groups = stringArray(groups, 'groups', channel);
  if (batch != null) {
    if (!isCount(batch)) return malformed('batch must be a non-negative integer', channel);
    envelope.batch = batch;
  }
  if (f.length <= 11) return envelope;
  const trace = readTraceContext(f[11], f[12], malformedTrace ?? ignore);
  if (trace) envelope.trace = trace;
  return envelope;
}

const KIND_BY_CODE = Object.fromEntries(Object.entries(KIND_CODE).map(([k, c]) => [c, k])) as Record<
  number,
  Envelope['kind']
>;

/**
 * A reader that tells, from the header bytes alone, whether an encoded envelope was sent by `origin` in
 * `epoch` and of which kind; `undefined` for anyone else's (or anything unreadable). A server receives its
 * own broadcasts back from the broker and drops them: this spares it decoding them.
 */
export function ownEnvelopeReader(
  origin: string,
  epoch: string,
): (bytes: Uint8Array) => Envelope['kind'] | undefined {
  // The envelope is a MessagePack array [v, origin, epoch, seq, kind, …] of at most 15 items (a fixarray).
  const head = packr.pack([ENVELOPE_VERSION, origin, epoch]).subarray(1);
  return (bytes) => {
    if ((bytes[0]! & 0xf0) !== 0x90 || bytes.length < head.length + 3) return undefined;
    for (let i = 0; i < head.length; i++) if (bytes[i + 1] !== head[i]) return undefined;
    let at = head.length + 1;
    const seqType = bytes[at]!;
    if (seqType < 0x80) at += 1;
    else if (seqType === 0xcc) at += 2;
    else if (seqType === 0xcd) at += 3;
    else if (seqType === 0xce) at += 5;
    else if (seqType === 0xcf || seqType === 0xcb)
      at += 9; // msgpackr writes seq >= 2^32 as a float64
    else return undefined;
    return KIND_BY_CODE[bytes[at]!];
  };
}

function stringArray(value: unknown, what: string, channel: string | undefined): string[] {
  if (!isStringArray(value)) return malformed(`${what} must be an array of strings`, channel);
  return value;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((s) => typeof s === 'string');
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
