import { Packr } from 'msgpackr';
import { ProtocolError } from '../errors.js';
import { parseBinaryRecords, writeBinaryRecord } from './binary-message-format.js';
import { type HubMessage, type MessageHeaders, MessageType } from './hub-messages.js';
import type { HubProtocol } from './hub-protocol.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Packr({ useRecords: false, mapsAsObjects: true });

const RESULT_ERROR = 1;
const RESULT_VOID = 2;
const RESULT_NON_VOID = 3;
const PING = writeBinaryRecord(new Uint8Array([0x91, MessageType.Ping]));

/** SignalR's MessagePack hub protocol (name `messagepack`, versions 1 and 2): VarInt-length-prefixed arrays. */
export class MessagePackHubProtocol implements HubProtocol {
  readonly name = 'messagepack';
  readonly version = 2;
  readonly transferFormat = 'binary' as const;

  isVersionSupported(version: number): boolean {
    return version >= 1 && version <= this.version;
  }

  writeMessage(message: HubMessage): Uint8Array {
    if (message.type === MessageType.Ping) return PING;
    return writeBinaryRecord(packr.pack(toArray(message)));
  }

  parseMessages(data: Uint8Array): HubMessage[] {
    const messages: HubMessage[] = [];
    for (const record of parseBinaryRecords(data)) {
      let value: unknown;
      try {
        value = unpackr.unpack(record);
      } catch (cause) {
        throw new ProtocolError('Message is not valid MessagePack.', { cause });
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
      if (m.error !== undefined) return [m.type, m.headers ?? {}, m.invocationId, RESULT_ERROR, m.error];
      if (m.result !== undefined) return [m.type, m.headers ?? {}, m.invocationId, RESULT_NON_VOID, m.result];
      return [m.type, m.headers ?? {}, m.invocationId, RESULT_VOID];
    case MessageType.CancelInvocation:
      return [m.type, m.headers ?? {}, m.invocationId];
    case MessageType.Close:
      return [m.type, m.error ?? null, m.allowReconnect ?? false];
    case MessageType.Ack:
    case MessageType.Sequence:
      return [m.type, m.sequenceId];
    case MessageType.Ping:
      return [m.type];
  }
}

function fromArray(value: unknown): HubMessage | undefined {
  if (!Array.isArray(value) || value.length === 0)
    throw new ProtocolError('Invalid payload: expected an array.');
  const a = value as unknown[];
  const type = a[0];
  if (typeof type !== 'number') throw new ProtocolError('Invalid payload: message type must be an integer.');
  const need = (n: number, name: string) => {
    if (a.length < n) throw new ProtocolError(`Invalid payload for ${name} message.`);
  };
  const str = (i: number, what: string): string => {
    if (typeof a[i] !== 'string') throw new ProtocolError(`Invalid payload: ${what} must be a string.`);
    return a[i] as string;
  };
  const headers = (): MessageHeaders | undefined => {
    const h = a[1];
    if (h === null || h === undefined) return undefined;
    if (typeof h !== 'object' || Array.isArray(h))
      throw new ProtocolError('Invalid payload: headers must be a map.');
    return Object.keys(h).length ? (h as MessageHeaders) : undefined;
  };
  const withHeaders = <T extends object>(m: T): T => {
    const h = headers();
    return h ? { ...m, headers: h } : m;
  };
  const args = (i: number): unknown[] => {
    if (!Array.isArray(a[i])) throw new ProtocolError('Invalid payload: arguments must be an array.');
    return a[i] as unknown[];
  };
  const streamIds = (i: number): string[] | undefined => {
    const ids = a[i];
    if (ids === undefined || ids === null) return undefined;
    if (!Array.isArray(ids) || !ids.every((s) => typeof s === 'string'))
      throw new ProtocolError('Invalid payload: stream ids must be an array of strings.');
    return ids.length ? (ids as string[]) : undefined;
  };
  const integer = (i: number): number => {
    const v = a[i];
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n))
      throw new ProtocolError('Invalid payload: expected an integer.');
    return n;
  };

  switch (type) {
    case MessageType.Invocation: {
      need(5, 'Invocation');
      const rawId = a[2];
      if (rawId !== null && rawId !== undefined && typeof rawId !== 'string')
        throw new ProtocolError('Invalid payload: invocation id must be a string or nil.');
      const ids = streamIds(5);
      return withHeaders({
        type: MessageType.Invocation,
        target: str(3, 'target'),
        arguments: args(4),
        ...(typeof rawId === 'string' && rawId !== '' && { invocationId: rawId }),
        ...(ids && { streamIds: ids }),
      });
    }
    case MessageType.StreamInvocation: {
      need(5, 'StreamInvocation');
      const ids = streamIds(5);
      return withHeaders({
        type: MessageType.StreamInvocation,
        invocationId: str(2, 'invocation id'),
        target: str(3, 'target'),
        arguments: args(4),
        ...(ids && { streamIds: ids }),
      });
    }
    case MessageType.StreamItem:
      need(4, 'StreamItem');
      return withHeaders({ type: MessageType.StreamItem, invocationId: str(2, 'invocation id'), item: a[3] });
    case MessageType.Completion: {
      need(4, 'Completion');
      const invocationId = str(2, 'invocation id');
      const kind = a[3];
      if (kind === RESULT_ERROR) {
        need(5, 'Completion');
        return withHeaders({ type: MessageType.Completion, invocationId, error: str(4, 'error') });
      }
      if (kind === RESULT_VOID) return withHeaders({ type: MessageType.Completion, invocationId });
      if (kind === RESULT_NON_VOID) {
        need(5, 'Completion');
        return withHeaders({ type: MessageType.Completion, invocationId, result: a[4] });
      }
      throw new ProtocolError('Invalid invocation result kind.');
    }
    case MessageType.CancelInvocation:
      need(3, 'CancelInvocation');
      return withHeaders({ type: MessageType.CancelInvocation, invocationId: str(2, 'invocation id') });
    case MessageType.Ping:
      return { type: MessageType.Ping };
    case MessageType.Close: {
      need(2, 'Close');
      const error = a[1];
      if (error !== null && error !== undefined && typeof error !== 'string')
        throw new ProtocolError('Invalid payload: close error must be a string or nil.');
      const allowReconnect = a[2];
      if (allowReconnect !== undefined && typeof allowReconnect !== 'boolean')
        throw new ProtocolError('Invalid payload: allowReconnect must be a boolean.');
      return {
        type: MessageType.Close,
        ...(typeof error === 'string' && { error }),
        ...(allowReconnect !== undefined && { allowReconnect }),
      };
    }
    case MessageType.Ack:
      need(2, 'Ack');
      return { type: MessageType.Ack, sequenceId: integer(1) };
    case MessageType.Sequence:
      need(2, 'Sequence');
      return { type: MessageType.Sequence, sequenceId: integer(1) };
    default:
      return undefined; // future message types are ignored
  }
}
