import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub } from '../src/index.js';
import { connectClient, type Node, type ProtocolName, startNode, stopNode } from './two-nodes.js';

const BYTES = [0, 1, 2, 250, 255];
const WHEN = '2000-01-01T00:00:00.000Z';

class ValuesHub extends Hub {
  Bytes(): Buffer {
    return Buffer.from(BYTES);
  }
  When(): Date {
    return new Date(WHEN);
  }
}

let node: Node;
beforeAll(async () => {
  node = await startNode(new MemoryDriver({ bus: new MemoryBus() }), 'values', {}, ValuesHub);
});
afterAll(() => stopNode(node));

describe('value formats', () => {
  const cases: Array<[ProtocolName, unknown, unknown]> = [
    // JSON: what a .NET server writes for byte[] and DateTime (the clients do not convert them back).
    ['json', 'AAEC+v8=', '2000-01-01T00:00:00Z'],
    // MessagePack: bin and the timestamp extension, which the client reads as Uint8Array and Date.
    ['messagepack', new Uint8Array(BYTES), new Date(WHEN)],
  ];
  for (const [protocol, bytes, when] of cases) {
    it(`values - a Buffer and a Date reach the official client as a .NET server sends them (${protocol})`, async () => {
      const client = await connectClient(node.url, { transport: 'WebSockets', protocol });
      try {
        const received = await client.invoke('Bytes');
        expect(received instanceof Uint8Array ? new Uint8Array(received) : received).toEqual(bytes);
        expect(await client.invoke('When')).toEqual(when);
      } finally {
        await client.stop();
      }
    });
  }
});
