import { type HubMessage, JsonHubProtocol, MessageType } from '@backplane/hub-protocol';
import type * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RawSocket, RS, trapProcessErrors } from './raw-client.js';
import { connectClient, type Node, startMemoryNodes, stopNode } from './two-nodes.js';

/** JSON, except that writing an error completion or a ping throws (a bug anywhere below a listener). */
class BrokenProtocol extends JsonHubProtocol {
  override writeMessage(message: HubMessage): Uint8Array {
    if (message.type === MessageType.Completion && message.error) throw new Error('cannot write errors');
    if (message.type === MessageType.Ping) throw new Error('cannot write pings');
    return super.writeMessage(message);
  }
}

let node: Node;
let bystander: signalR.HubConnection;
let trap: ReturnType<typeof trapProcessErrors>;

beforeAll(async () => {
  [node] = (await startMemoryNodes(1, { protocols: [new BrokenProtocol()] })) as [Node];
  bystander = await connectClient(node.url, { transport: 'WebSockets', protocol: 'json' });
});
afterAll(async () => {
  await bystander?.stop();
  if (node) await stopNode(node);
});
beforeEach(() => {
  trap = trapProcessErrors();
});
afterEach(() => trap.dispose());

describe('guard', () => {
  it('guard - a hub message whose handling throws closes that connection, not the process', async () => {
    const c = await RawSocket.handshaken(node.url);
    c.send(`{"type":1,"invocationId":"1","target":"NoSuchMethod","arguments":[]}${RS}`);
    expect(await c.nextNonPing()).toEqual({ type: 7, error: 'Connection closed with an error.' });
    await c.closed;
    expect(trap.errors).toEqual([]);
    expect(await bystander.invoke('Echo', 'alive')).toBe('alive');
  });

  it('guard - a keep-alive tick that throws closes that connection, not the process', async () => {
    const [pinging] = (await startMemoryNodes(1, {
      protocols: [new BrokenProtocol()],
      keepAliveInterval: 50,
    })) as [Node];
    try {
      const c = await RawSocket.handshaken(pinging.url);
      expect(await c.nextJson()).toEqual({ type: 7, error: 'Connection closed with an error.' });
      await c.closed;
      expect(trap.errors).toEqual([]);
    } finally {
      await stopNode(pinging);
    }
  });
});
