import { ProtocolError } from '../errors.js';
import { type HubMessage, type MessageHeaders, MessageType } from './hub-messages.js';
import type { HubProtocol } from './hub-protocol.js';
import { parseTextRecords, writeTextRecord } from './text-message-format.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** SignalR's JSON hub protocol (name `json`, versions 1 and 2): JSON objects terminated by 0x1E. */
export class JsonHubProtocol implements HubProtocol {
  readonly name = 'json';
  readonly version = 2;
  readonly transferFormat = 'text' as const;

  isVersionSupported(version: number): boolean {
    return version >= 1 && version <= this.version;
  }

  writeMessage(message: HubMessage): Uint8Array {
    return encoder.encode(writeTextRecord(JSON.stringify(toJson(message))));
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
        throw new ProtocolError(`Error reading JSON: ${(cause as Error).message}`, { cause });
      }
      const message = fromJson(value);
      if (message) messages.push(message);
    }
    return messages;
  }
}

function toJson(message: HubMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { type: message.type };
  for (const [key, value] of Object.entries(message)) {
    if (key === 'type' || value === undefined) continue;
    out[key] = value;
  }
  if (message.type === MessageType.Completion && 'result' in message && message.result === undefined) {
    // a void completion carries neither result nor error
    delete out.result;
  }
  return out;
}

/** Validates a parsed JSON record; unknown message types yield `undefined` (skipped). */
function fromJson(value: unknown): HubMessage | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ProtocolError('Message is not a JSON object.');
  const o = value as Record<string, unknown>;
  if (typeof o.type !== 'number') throw new ProtocolError("Missing required property 'type'.");
  const name = typeName(o.type);
  const str = (key: string, required: boolean): string | undefined => {
    const v = o[key];
    if (v === undefined || (v === null && !required)) {
      if (required) throw new ProtocolError(`Invalid payload for '${name}' message: missing '${key}'.`);
      return undefined;
    }
    if (typeof v !== 'string')
      throw new ProtocolError(`Invalid payload for '${name}' message: '${key}' must be a string.`);
    return v;
  };
  const args = (): unknown[] => {
    if (!Array.isArray(o.arguments))
      throw new ProtocolError(`Invalid payload for '${name}' message: 'arguments' must be an array.`);
    return o.arguments;
  };
  const streamIds = (): string[] | undefined => {
    if (o.streamIds === undefined || o.streamIds === null) return undefined;
    if (!Array.isArray(o.streamIds) || !o.streamIds.every((s) => typeof s === 'string'))
      throw new ProtocolError(
        `Invalid payload for '${name}' message: 'streamIds' must be an array of strings.`,
      );
    return o.streamIds as string[];
  };
  const headers = (): MessageHeaders | undefined => {
    if (o.headers === undefined || o.headers === null) return undefined;
    if (typeof o.headers !== 'object' || Array.isArray(o.headers))
      throw new ProtocolError(`Invalid payload for '${name}' message: 'headers' must be an object.`);
    return o.headers as MessageHeaders;
  };
  const h = headers();
  const withHeaders = <T extends object>(m: T): T => (h ? { ...m, headers: h } : m);
  const integer = (key: string): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v))
      throw new ProtocolError(`Invalid payload for '${name}' message: '${key}' must be an integer.`);
    return v;
  };

  switch (o.type) {
    case MessageType.Invocation: {
      const invocationId = str('invocationId', false);
      const ids = streamIds();
      return withHeaders({
        type: MessageType.Invocation,
        target: str('target', true)!,
        arguments: args(),
        ...(invocationId !== undefined && { invocationId }),
        ...(ids && { streamIds: ids }),
      });
    }
    case MessageType.StreamInvocation: {
      const ids = streamIds();
      return withHeaders({
        type: MessageType.StreamInvocation,
        invocationId: str('invocationId', true)!,
        target: str('target', true)!,
        arguments: args(),
        ...(ids && { streamIds: ids }),
      });
    }
    case MessageType.StreamItem:
      return withHeaders({
        type: MessageType.StreamItem,
        invocationId: str('invocationId', true)!,
        item: o.item,
      });
    case MessageType.Completion: {
      const invocationId = str('invocationId', true)!;
      const hasError = o.error !== undefined && o.error !== null;
      if (hasError && 'result' in o)
        throw new ProtocolError("The 'error' and 'result' properties are mutually exclusive.");
      if (hasError)
        return withHeaders({ type: MessageType.Completion, invocationId, error: str('error', true)! });
      if ('result' in o) return withHeaders({ type: MessageType.Completion, invocationId, result: o.result });
      return withHeaders({ type: MessageType.Completion, invocationId });
    }
    case MessageType.CancelInvocation:
      return withHeaders({ type: MessageType.CancelInvocation, invocationId: str('invocationId', true)! });
    case MessageType.Ping:
      return { type: MessageType.Ping };
    case MessageType.Close: {
      const error = str('error', false);
      if (o.allowReconnect !== undefined && typeof o.allowReconnect !== 'boolean')
        throw new ProtocolError("Invalid payload for 'Close' message: 'allowReconnect' must be a boolean.");
      return {
        type: MessageType.Close,
        ...(error !== undefined && { error }),
        ...(o.allowReconnect !== undefined && { allowReconnect: o.allowReconnect as boolean }),
      };
    }
    case MessageType.Ack:
      return { type: MessageType.Ack, sequenceId: integer('sequenceId') };
    case MessageType.Sequence:
      return { type: MessageType.Sequence, sequenceId: integer('sequenceId') };
    default:
      return undefined; // future message types are ignored
  }
}

function typeName(type: number): string {
  return (
    [
      '',
      'Invocation',
      'StreamItem',
      'Completion',
      'StreamInvocation',
      'CancelInvocation',
      'Ping',
      'Close',
      'Ack',
      'Sequence',
    ][type] ?? `type ${type}`
  );
}
