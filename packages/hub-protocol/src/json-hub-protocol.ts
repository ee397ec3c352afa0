import { type HubMessage, type MessageHeaders, MessageType } from './hub-messages.js';
import type { HubProtocol } from './hub-protocol.js';
import { ProtocolError } from './protocol-error.js';
import { parseTextRecords, writeTextRecord } from './text-message-format.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * SignalR's JSON hub protocol (name `json`, versions 1 and 2): one JSON object per message, each terminated
 * by 0x1E. Writes the spec's field names in .NET's order and omits absent optional fields; reads skip
 * unknown properties and unknown message types.
 */
export class JsonHubProtocol implements HubProtocol {
  readonly name = 'json';
  readonly version = 2;
  readonly transferFormat = 'text' as const;

  isVersionSupported(version: number): boolean {
    return version >= 1 && version <= this.version;
  }

  writeMessage(message: HubMessage): Uint8Array {
    let text: string;
    try {
      const json = toJson(message);
      text = JSON.stringify(json, hasDatesOrBytes(payloadOf(message)) ? dotnetValues : undefined);
    } catch (cause) {
      if (cause instanceof ProtocolError) throw cause;
      throw new ProtocolError(`Cannot serialize message as JSON: ${errorText(cause)}`, { cause });
    }
    return Buffer.from(writeTextRecord(text), 'utf8');
  }

  parseMessages(data: Uint8Array): HubMessage[] {
    let text: string;
    try {
      text = decoder.decode(data);
    } catch (cause) {
      throw new ProtocolError('Message is not valid UTF-8.', { cause });
    }
    const messages: HubMessage[] = [];
    for (const record of parseTextRecords(text)) {
      let value: unknown;
      try {
        value = JSON.parse(record);
      } catch (cause) {
        throw new ProtocolError(`Error reading JSON: ${errorText(cause)}`, { cause });
      }
      const message = fromJson(value);
      if (message) messages.push(message);
    }
    return messages;
  }
}

/** The part of a message that holds app values (what `dotnetValues` may need to rewrite). */
function payloadOf(m: HubMessage): unknown {
  switch (m.type) {
    case MessageType.Invocation:
    case MessageType.StreamInvocation:
      return m.arguments;
    case MessageType.StreamItem:
      return m.item;
    case MessageType.Completion:
      return m.result;
    default:
      return undefined;
  }
}

/** How deep {@link hasDatesOrBytes} looks before it assumes the answer is yes (and the replacer runs). */
const SCAN_DEPTH = 32;

/**
 * Whether a value holds a `Date` or a `Uint8Array` (a `Buffer`): only then does serializing need the
 * replacer, which costs a call per value. Arrays of strings and numbers, the usual arguments, are a loop.
 */
function hasDatesOrBytes(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (value instanceof Date || value instanceof Uint8Array) return true;
  if (depth >= SCAN_DEPTH) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (hasDatesOrBytes(item, depth + 1)) return true;
    return false;
  }
  for (const key in value) {
    if (hasDatesOrBytes((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

/**
 * Writes values the way .NET's System.Text.Json does, which SignalR clients expect: a byte array
 * (`Uint8Array`, `Buffer`) as a base64 string; a `Date` in ISO 8601 UTC without a fraction when it has
 * none (`2000-01-01T00:00:00Z`), otherwise with trailing zeros trimmed (`…00.12Z`); an invalid date as
 * `null`, as `JSON.stringify` does.
 */
function dotnetValues(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Date) return formatDate(raw);
  if (raw instanceof Uint8Array)
    return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64');
  return value;
}

function formatDate(date: Date): string | null {
  if (Number.isNaN(date.getTime())) return null;
  const iso = date.toISOString(); // 2000-01-01T00:00:00.120Z (or ±YYYYYY-… outside years 0-9999)
  const dot = iso.lastIndexOf('.');
  const fraction = iso.slice(dot + 1, -1).replace(/0+$/, '');
  return fraction ? `${iso.slice(0, dot)}.${fraction}Z` : `${iso.slice(0, dot)}Z`;
}

function toJson(m: HubMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { type: m.type };
  const set = (key: string, value: unknown) => {
    if (value !== undefined) out[key] = value;
  };
  if ('headers' in m && m.headers && Object.keys(m.headers).length > 0) out.headers = m.headers;
  switch (m.type) {
    case MessageType.Invocation:
    case MessageType.StreamInvocation:
      set('invocationId', m.invocationId);
      out.target = m.target;
      out.arguments = m.arguments;
      if (m.streamIds && m.streamIds.length > 0) out.streamIds = m.streamIds;
      return out;
    case MessageType.StreamItem:
      out.invocationId = m.invocationId;
      out.item = m.item ?? null;
      return out;
    case MessageType.Completion:
      out.invocationId = m.invocationId;
      if (m.error !== undefined && m.result !== undefined)
        throw new ProtocolError("The 'error' and 'result' properties are mutually exclusive.");
      set('error', m.error);
      set('result', m.result); // `null` is a result; `undefined` (or no property) is a void completion
      return out;
    case MessageType.CancelInvocation:
      out.invocationId = m.invocationId;
      return out;
    case MessageType.Ping:
      return out;
    case MessageType.Close:
      set('error', m.error);
      set('allowReconnect', m.allowReconnect);
      return out;
    case MessageType.Ack:
    case MessageType.Sequence:
      out.sequenceId = m.sequenceId;
      return out;
    default:
      throw new ProtocolError(`Cannot write unknown message type ${String((m as { type: unknown }).type)}.`);
  }
}

/** Validates a parsed JSON record; unknown message types yield `undefined` (skipped). */
function fromJson(value: unknown): HubMessage | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ProtocolError('Invalid message: expected a JSON object.');
  const o = value as Record<string, unknown>;
  if (o.type === undefined) throw new ProtocolError("Missing required property 'type'.");
  if (typeof o.type !== 'number' || !Number.isInteger(o.type))
    throw new ProtocolError("Invalid message: 'type' must be an integer.");
  const name = Object.keys(MessageType).find((k) => MessageType[k as keyof typeof MessageType] === o.type);
  if (name === undefined) return undefined; // future message types are ignored
  const fail = (detail: string) => new ProtocolError(`Invalid payload for '${name}' message: ${detail}`);
  const has = (key: string) => Object.hasOwn(o, key) && o[key] !== undefined;

  const string = (key: string): string => {
    if (!has(key)) throw fail(`missing required property '${key}'.`);
    if (typeof o[key] !== 'string') throw fail(`'${key}' must be a string.`);
    return o[key];
  };
  const optionalString = (key: string): string | undefined => (o[key] == null ? undefined : string(key));
  const args = (): unknown[] => {
    if (!has('arguments')) throw fail("missing required property 'arguments'.");
    if (!Array.isArray(o.arguments)) throw fail("'arguments' must be an array.");
    return o.arguments;
  };
  const optional = <K extends string, V>(key: K, v: V | undefined) =>
    (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
  const withHeaders = <T extends object>(message: T): T => {
    const h = o.headers;
    if (h == null) return message;
    if (typeof h !== 'object' || Array.isArray(h) || !Object.values(h).every((v) => typeof v === 'string'))
      throw fail("'headers' must be an object of strings.");
    return Object.keys(h).length > 0 ? { ...message, headers: h as MessageHeaders } : message;
  };
  const streamIds = () => {
    const ids = o.streamIds;
    if (ids == null) return {};
    if (!Array.isArray(ids) || !ids.every((s) => typeof s === 'string'))
      throw fail("'streamIds' must be an array of strings.");
    return optional('streamIds', ids.length > 0 ? (ids as string[]) : undefined);
  };
  const integer = (key: string): number => {
    if (!has(key)) throw fail(`missing required property '${key}'.`);
    const v = o[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw fail(`'${key}' must be an integer.`);
    return v;
  };

  switch (o.type) {
    case MessageType.Invocation:
      return withHeaders({
        type: MessageType.Invocation,
        ...optional('invocationId', optionalString('invocationId')),
        target: string('target'),
        arguments: args(),
        ...streamIds(),
      });
    case MessageType.StreamInvocation:
      return withHeaders({
        type: MessageType.StreamInvocation,
        invocationId: string('invocationId'),
        target: string('target'),
        arguments: args(),
        ...streamIds(),
      });
    case MessageType.StreamItem: {
      const invocationId = string('invocationId');
      if (!has('item')) throw fail("missing required property 'item'.");
      return withHeaders({ type: MessageType.StreamItem, invocationId, item: o.item });
    }
    case MessageType.Completion: {
      const invocationId = string('invocationId');
      const error = optionalString('error');
      const hasResult = has('result');
      if (error !== undefined && hasResult)
        throw new ProtocolError("The 'error' and 'result' properties are mutually exclusive.");
      return withHeaders({
        type: MessageType.Completion,
        invocationId,
        ...optional('error', error),
        ...(hasResult && { result: o.result }),
      });
    }
    case MessageType.CancelInvocation:
      return withHeaders({ type: MessageType.CancelInvocation, invocationId: string('invocationId') });
    case MessageType.Ping:
      return { type: MessageType.Ping };
    case MessageType.Close: {
      const allowReconnect = o.allowReconnect ?? undefined;
      if (allowReconnect !== undefined && typeof allowReconnect !== 'boolean')
        throw fail("'allowReconnect' must be a boolean.");
      return {
        type: MessageType.Close,
        ...optional('error', optionalString('error')),
        ...optional('allowReconnect', allowReconnect),
      };
    }
    case MessageType.Ack:
      return { type: MessageType.Ack, sequenceId: integer('sequenceId') };
    case MessageType.Sequence:
      return { type: MessageType.Sequence, sequenceId: integer('sequenceId') };
    default:
      return undefined;
  }
}

function errorText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
