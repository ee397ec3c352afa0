import { Packr } from 'msgpackr';
import {
  type CompletionOutcome,
  ENVELOPE_VERSION,
  type Envelope,
  type EnvelopeBody,
  type EnvelopeHeader,
  type InvocationBody,
} from './envelope.js';
import { EnvelopeError } from './errors.js';

// Wire layout (docs/protocol.md): one MessagePack array
//   [v, origin, epoch, seq, kindCode, ...body fields]
// Readers check the minimum length and ignore trailing items, so later versions may append fields.
const KIND_CODE = {
  invocation: 1,
  'group-command': 2,
  ack: 3,
  completion: 4,
  probe: 5,
  heartbeat: 6,
} as const;
const OUTCOMES: readonly CompletionOutcome[] = ['error', 'void', 'result', 'disconnected', 'not-found'];

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
      );
      break;
    }
    case 'group-command':
      head.push(envelope.id, envelope.action === 'add' ? 1 : 2, envelope.group, envelope.connectionId);
      break;
    case 'ack':
    case 'probe':
      head.push(envelope.id);
      break;
    case 'heartbeat':
      head.push(envelope.interval);
      break;
    case 'completion':
      head.push(envelope.invocationId, envelope.connectionId, OUTCOMES.indexOf(envelope.outcome) + 1);
      if (envelope.outcome === 'result' || envelope.outcome === 'error') head.push(envelope.value ?? null);
      break;
  }
  while (head.length > 5 && head[head.length - 1] === null) head.pop(); // absent trailing fields cost nothing
  return packr.pack(head);
}

/**
 * Decodes and validates an envelope. Throws {@link EnvelopeError} for anything that is not a valid
 * envelope of a known version and kind; the receive path catches it, counts it and drops the message.
 */
export function decodeEnvelope(bytes: Uint8Array, channel?: string): Envelope {
  let raw: unknown;
  try {
    raw = unpackr.unpack(bytes);
  } catch (cause) {
    throw new EnvelopeError('Envelope is not valid MessagePack.', channel, { cause });
  }
  const fail = (what: string): never => {
    throw new EnvelopeError(`Malformed envelope: ${what}.`, channel);
  };
  if (!Array.isArray(raw) || raw.length < 5) return fail('expected an array of at least 5 items');
  const [v, origin, epoch, seq, kindCode] = raw as unknown[];
  if (v !== ENVELOPE_VERSION) return fail(`unsupported version ${String(v)}`);
  if (typeof origin !== 'string' || origin === '') return fail('origin must be a non-empty string');
  if (typeof epoch !== 'string') return fail('epoch must be a string');
  if (!isCount(seq)) return fail('seq must be a non-negative integer');
  const header: EnvelopeHeader = { v, origin, epoch, seq };
  const f = raw.slice(5) as unknown[];
  let body: EnvelopeBody;
  switch (kindCode) {
    case KIND_CODE.invocation:
      body = decodeInvocation(f, fail);
      break;
    case KIND_CODE['group-command']: {
      const [id, action, group, connectionId] = f;
      if (!isCount(id)) return fail('group command id must be a non-negative integer');
      if (action !== 1 && action !== 2) return fail('group command action must be 1 or 2');
      if (typeof group !== 'string' || typeof connectionId !== 'string')
        return fail('group command group and connectionId must be strings');
      body = { kind: 'group-command', id, action: action === 1 ? 'add' : 'remove', group, connectionId };
      break;
    }
    case KIND_CODE.ack:
    case KIND_CODE.probe: {
      const [id] = f;
      if (!isCount(id)) return fail('id must be a non-negative integer');
      body = kindCode === KIND_CODE.ack ? { kind: 'ack', id } : { kind: 'probe', id };
      break;
    }
    case KIND_CODE.heartbeat: {
      const [interval] = f;
      if (!isCount(interval)) return fail('heartbeat interval must be a non-negative integer');
      body = { kind: 'heartbeat', interval };
      break;
    }
    case KIND_CODE.completion: {
      const [invocationId, connectionId, outcomeCode, value] = f;
      if (typeof invocationId !== 'string' || typeof connectionId !== 'string')
        return fail('completion invocationId and connectionId must be strings');
      const outcome = typeof outcomeCode === 'number' ? OUTCOMES[outcomeCode - 1] : undefined;
      if (!outcome) return fail('unknown completion outcome');
      if (outcome === 'error' && typeof value !== 'string') return fail('completion error must be a string');
      body = { kind: 'completion', invocationId, connectionId, outcome, value };
      break;
    }
    default:
      return fail(`unknown kind ${String(kindCode)}`);
  }
  return { ...header, ...body };
}

function decodeInvocation(f: unknown[], fail: (what: string) => never): InvocationBody {
  const [rawPayloads, exclude, connectionIds, invocationId, groups, batch] = f;
  if (typeof rawPayloads !== 'object' || rawPayloads === null || Array.isArray(rawPayloads))
    return fail('invocation payloads must be a map');
  const payloads = new Map<string, Uint8Array>();
  for (const [name, bytes] of Object.entries(rawPayloads)) {
    if (!(bytes instanceof Uint8Array)) return fail(`payload '${name}' must be binary`);
    payloads.set(name, bytes);
  }
  const body: {
    -readonly [K in keyof InvocationBody]: InvocationBody[K];
  } = { kind: 'invocation', payloads };
  if (exclude != null) body.exclude = stringArray(exclude, 'exclude', fail);
  if (connectionIds != null) body.connectionIds = stringArray(connectionIds, 'connectionIds', fail);
  if (invocationId != null) {
    if (typeof invocationId !== 'string') return fail('invocationId must be a string');
    body.invocationId = invocationId;
  }
  if (groups != null) body.groups = stringArray(groups, 'groups', fail);
  if (batch != null) {
    if (!isCount(batch)) return fail('batch must be a non-negative integer');
    body.batch = batch;
  }
  return body;
}

function stringArray(value: unknown, what: string, fail: (what: string) => never): string[] {
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string'))
    return fail(`${what} must be an array of strings`);
  return value as string[];
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
