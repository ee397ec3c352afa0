// Hub protocols (what a connection negotiates in its handshake)
export type { HubProtocol, TransferFormat } from './hub-protocol.js';
export { JsonHubProtocol } from './json-hub-protocol.js';
export { MessagePackHubProtocol } from './messagepack-hub-protocol.js';
export { defaultProtocols } from './default-protocols.js';

// Hub messages (the records both protocols carry)
export type {
  AckMessage,
  CancelInvocationMessage,
  CloseMessage,
  CompletionMessage,
  HubMessage,
  InvocationMessage,
  MessageHeaders,
  PingMessage,
  SequenceMessage,
  StreamInvocationMessage,
  StreamItemMessage,
} from './hub-messages.js';
export {
  completionWithError,
  completionWithResult,
  isSequencedMessage,
  MessageType,
} from './hub-messages.js';

// Handshake
export type { HandshakeRequest } from './handshake.js';
export {
  parseHandshakeRequest,
  parseHandshakeResponse,
  writeHandshakeRequest,
  writeHandshakeResponse,
} from './handshake.js';

// Record framing (JSON records end with 0x1E; MessagePack records carry a VarInt length prefix)
export { parseTextRecords, RECORD_SEPARATOR, writeTextRecord } from './text-message-format.js';
export { parseBinaryRecords, writeBinaryRecord } from './binary-message-format.js';

// Errors
export { ProtocolError } from './protocol-error.js';
