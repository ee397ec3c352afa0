import type { InvocationMessage } from '@backplane/hub-protocol';
import { JsonHubProtocol } from '@backplane/hub-protocol';
import { describe, expect, it } from 'vitest';
import { ENVELOPE_VERSION } from '../src/envelope.js';
import { encodeEnvelope } from '../src/envelope-codec.js';
import { HubLifetimeManager } from '../src/hub-lifetime-manager.js';
import type { LocalConnection } from '../src/local-connection.js';
import { ControllableDriver, TestBus } from './controllable-driver.js';
import { settle, until } from './recording-connection.js';

const json = new JsonHubProtocol();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('sendGroups de-duplication', () => {
  it('sendGroups - copies of consecutive batches arriving interleaved (sharded brokers) are delivered once each', async () => {
    const bus = new TestBus();
    const manager = new HubLifetimeManager({
      driver: new ControllableDriver(bus),
      hub: 'g',
      protocols: [json],
      logger: quiet,
      liveness: false,
    });
    await manager.start();
    const words: string[] = [];
    const connection: LocalConnection = {
      connectionId: manager.createConnectionId(),
      protocol: json,
      write: (frame) => {
        for (const m of json.parseMessages(frame)) words.push(String((m as InvocationMessage).arguments[0]));
      },
    };
    await manager.onConnected(connection);
    await manager.addToGroup(connection.connectionId, 'g1');
    await manager.addToGroup(connection.connectionId, 'g2');

    const raw = new ControllableDriver(bus);
    await raw.connect();
    const copy = (batch: number, word: string, seq: number) =>
      encodeEnvelope({
        v: ENVELOPE_VERSION,
        origin: 'other-server',
        epoch: 'e1',
        seq,
        kind: 'invocation',
        payloads: new Map([['json', json.writeMessage({ type: 1, target: 'Say', arguments: [word] })]]),
        groups: ['g1', 'g2'],
        batch,
      });
    // g1's shard delivers batch 1 then 2; g2's shard is slower: its copy of batch 1 comes last.
    await raw.raw(manager.channels.group('g1'), copy(1, 'first', 1));
    await raw.raw(manager.channels.group('g1'), copy(2, 'second', 2));
    await raw.raw(manager.channels.group('g2'), copy(2, 'second', 1));
    await raw.raw(manager.channels.group('g2'), copy(1, 'first', 2));
    await until(() => words.length >= 2, 'both batches');
    await settle(); // a duplicate would arrive by now
    expect(words).toEqual(['first', 'second']);
    await raw.close();
    await manager.close();
  });
});
