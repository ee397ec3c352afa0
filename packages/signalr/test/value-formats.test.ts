import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub } from '../src/index.js';
import { MATRIX, skipUnsupportedCombinations } from './support/matrix.js';
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

/** What the official client receives for the hub's Buffer and Date, per hub protocol. */
const EXPECTED: Record<ProtocolName, { bytes: unknown; when: unknown }> = {
  // JSON: what a .NET server writes for byte[] and DateTime (the clients do not convert them back).
  json: { bytes: 'AAEC+v8=', when: '2000-01-01T00:00:00Z' },
  // MessagePack: bin and the timestamp extension, which the client reads as Uint8Array and Date.
  messagepack: { bytes: new Uint8Array(BYTES), when: new Date(WHEN) },
};

describe.each(MATRIX)('value formats ($transport, $protocol)', ({ transport, protocol }) => {
  it(`values - a Buffer and a Date reach the official client as a .NET server sends them (${transport}, ${protocol})`, async () => {
    const client = await connectClient(node.url, { transport, protocol });
    try {
      const received = await client.invoke('Bytes');
      expect(received instanceof Uint8Array ? new Uint8Array(received) : received).toEqual(
        EXPECTED[protocol].bytes,
      );
      expect(await client.invoke('When')).toEqual(EXPECTED[protocol].when);
    } finally {
      await client.stop();
    }
  });
});

describe('value formats - skipped', () => skipUnsupportedCombinations('values'));
