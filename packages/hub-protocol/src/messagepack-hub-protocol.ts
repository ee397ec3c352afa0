import { Packr } from 'msgpackr';
import { parseBinaryRecords, writeBinaryRecord } from './binary-message-format.js';
import { type HubMessage, type MessageHeaders, MessageType } from './hub-messages.js';
import type { HubProtocol } from './hub-protocol.js';
import { ProtocolError } from './protocol-error.js';

// Plain MessagePack as @msgpack/msgpack (the official JS client) and MessagePack-CSharp write it: no msgpackr
// records, `{}` as 0x80, `undefined` as nil (msgpackr would otherwise write ext 0).
const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });
// Maps become plain objects, int64 becomes a number (as in the official client), bin is copied out of the frame.
const unpackr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: 'number',
  copyBuffers: true,
});

const RESULT_ERROR = 1;
const RESULT_VOID = 2;
const RESULT_NON_VOID = 3;

/**
 * SignalR's MessagePack hub protocol (name `messagepack`, versions 1 and 2): each message is a MessagePack
 * array behind a VarInt length prefix. Reads accept the legacy 5-item Invocation and 2-item Close, normalize an
 * empty invocation id to a non-blocking invocation, and skip unknown message types.
 */
export class MessagePackHubProtocol implements HubProtocol {
  readonly name = 'messagepack';
  readonly version = 2;
  readonly transferFormat = 'binary' as const;

  isVersionSupported(version: number): boolean {
    return version >= 1 && version <= this.version;
  }

  writeMessage(message: HubMessage): Uint8Array {
    const array = toArray(message);
    let body: Uint8Array;
    try {
      body = packr.pack(array);
    } catch (cause) {
      throw new ProtocolError(`Cannot serialize message as MessagePack: ${errorText(cause)}`, { cause });
    }
    return writeBinaryRecord(body);
  }

  parseMessages(data: Uint8Array): HubMessage[] {
    const messages: HubMessage[] = [];
    for (const record of parseBinaryRecords(data)) {
      let value: unknown;
      try {
        value = unpackr.unpack(record);
      } catch (cause) {
        throw new ProtocolError(`Message is not valid MessagePack: ${errorText(cause)}`, { cause });
      }
      const message = fromArray(value);
      if (message) messages.push(message);
    }
    return messages;
  }
}

function toArray(m: HubMessage): unknown[] {
  switch (m.type) {
    case MessageType.Invocation:
      return [m.type, m.headers ?? {}, m.invocationId ?? null, m.target, m.arguments, m.streamIds ?? []];
    case MessageType.StreamInvocation:
      return [m.type, m.headers ?? {}, m.invocationId, m.target, m.arguments, m.streamIds ?? []];
    case MessageType.StreamItem:
      return [m.type, m.headers ?? {}, m.invocationId, m.item];
    case MessageType.Completion:
      if (m.error !== undefined && m.result !== undefined)
        throw new ProtocolError("The 'error' and 'result' properties are mutually exclusive.");
      if (m.error !== undefined) return [m.type, m.headers ?? {}, m.invocationId, RESULT_ERROR, m.error];
      if (m.result !== undefined) return [m.type, m.headers ?? {}, m.invocationId, RESULT_NON_VOID, m.result];
      return [m.type, m.headers ?? {}, m.invocationId, RESULT_VOID];
    case MessageType.CancelInvocation:
      return [m.type, m.headers ?? {}, m.invocationId];
    case MessageType.Ping:
      return [m.type];
    case MessageType.Close:
      return [m.type, m.error ?? null, m.allowReconnect ?? false];
    case MessageType.Ack:
    case MessageType.Sequence:
      // msgpackr writes integers above 32 bits as float64, which MessagePack-CSharp cannot read as a long
      return [m.type, m.sequenceId > 0xffffffff ? BigInt(m.sequenceId) : m.sequenceId];
    default:
      throw new ProtocolError(`Cannot write unknown message type ${String((m as { type: unknown }).type)}.`);
  }
}

/** Validates a decoded array; unknown message types yield `undefined` (skipped). */
function fromArray(value: unknown): HubMessage | undefined {
  if (!Array.isArray(value) || value.length === 0)
    throw new ProtocolError('Invalid message: expected a non-empty MessagePack array.');
  const a: unknown[] = value;
  const type = a[0];
  if (typeof type !== 'number' || !Number.isInteger(type))
    throw new ProtocolError('Invalid message: the message type must be an integer.');
  const name = Object.keys(MessageType).find((k) => MessageType[k as keyof typeof MessageType] === type);
  if (name === undefined) return undefined; // future message types are ignored
  const fail = (detail: string) => new ProtocolError(`Invalid payload for '${name}' message: ${detail}`);

  const need = (count: number) => {
    if (a.length < count) throw fail(`expected at least ${count} items, got ${a.length}.`);
  };
  const string = (i: number, field: string): string => {
    const v = a[i];
    if (typeof v !== 'string') throw fail(`'${field}' must be a string.`);
    return v;
  };
  const optional = <K extends string, V>(key: K, v: V | undefined) =>
    (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
  const withHeaders = <T extends object>(message: T): T => {
    const h = a[1];
    if (h == null) return message;
    if (typeof h !== 'object' || Array.isArray(h) || !Object.values(h).every((v) => typeof v === 'string'))
      throw fail("'headers' must be a map of strings.");
    return Object.keys(h).length > 0 ? { ...message, headers: h as MessageHeaders } : message;
  };
  const args = (i: number): unknown[] => {
    const v = a[i];
    if (!Array.isArray(v)) throw fail("'arguments' must be an array.");
    return v;
  };
  const streamIds = (i: number) => {
    const ids = a[i];
    if (ids == null) return {};
    if (!Array.isArray(ids) || !ids.every((s) => typeof s === 'string'))
      throw fail("'streamIds' must be an array of strings.");
    return optional('streamIds', ids.length > 0 ? (ids as string[]) : undefined);
  };
  const integer = (i: number, field: string): number => {
    const v = a[i];
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw fail(`'${field}' must be an integer.`);
    return n;
  };

  switch (type) {
    case MessageType.Invocation: {
      need(5);
      const id = a[2];
      if (id != null && typeof id !== 'string') throw fail("'invocationId' must be a string or nil.");
      return withHeaders({
        type: MessageType.Invocation,
        ...optional('invocationId', id === '' || id == null ? undefined : id),
        target: string(3, 'target'),
        arguments: args(4),
        ...streamIds(5),
      });
    }
    case MessageType.StreamInvocation:
      need(5);
      return withHeaders({
        type: MessageType.StreamInvocation,
        invocationId: string(2, 'invocationId'),
        target: string(3, 'target'),
        arguments: args(4),
        ...streamIds(5),
      });
    case MessageType.StreamItem:
      need(4);
      return withHeaders({
        type: MessageType.StreamItem,
        invocationId: string(2, 'invocationId'),
        item: a[3],
      });
    case MessageType.Completion: {
      need(4);
      const invocationId = string(2, 'invocationId');
      const kind = a[3];
      if (kind === RESULT_VOID) return withHeaders({ type: MessageType.Completion, invocationId });
      if (kind !== RESULT_ERROR && kind !== RESULT_NON_VOID) throw fail('invalid invocation result kind.');
      need(5);
      return withHeaders(
        kind === RESULT_ERROR
          ? { type: MessageType.Completion, invocationId, error: string(4, 'error') }
          : { type: MessageType.Completion, invocationId, result: a[4] },
      );
    }
    case MessageType.CancelInvocation:
      need(3);
      return withHeaders({ type: MessageType.CancelInvocation, invocationId: string(2, 'invocationId') });
    case MessageType.Ping:
      return { type: MessageType.Ping };
    case MessageType.Close: {
      need(2);
      const error = a[1] == null ? undefined : string(1, 'error');
      const allowReconnect = a[2] ?? undefined;
      if (allowReconnect !== undefined && typeof allowReconnect !== 'boolean')
        throw fail("'allowReconnect' must be a boolean.");
      return {
        type: MessageType.Close,
        ...optional('error', error),
        ...optional('allowReconnect', allowReconnect),
      };
    }
    case MessageType.Ack:
      need(2);
      return { type: MessageType.Ack, sequenceId: integer(1, 'sequenceId') };
    case MessageType.Sequence:
      need(2);
      return { type: MessageType.Sequence, sequenceId: integer(1, 'sequenceId') };
    default:
      return undefined;
  }
}

function errorText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
