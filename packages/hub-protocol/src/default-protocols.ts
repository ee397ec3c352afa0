import type { HubProtocol } from './hub-protocol.js';
import { JsonHubProtocol } from './json-hub-protocol.js';
import { MessagePackHubProtocol } from './messagepack-hub-protocol.js';

/** The hub protocols a sender serializes for unless told otherwise: JSON and MessagePack. */
export function defaultProtocols(): HubProtocol[] {
  return [new JsonHubProtocol(), new MessagePackHubProtocol()];
}
