import { BrokerError, InvalidArgumentError } from '@backplane/core';
import {
  type NatsServerHandle,
  runPositionOrderSuite,
  runSessionStoreSuite,
  startNats,
} from '@backplane/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsDriver } from '../src/index.js';
import { encodeRecordKey } from '../src/session-bucket.js';

runSessionStoreSuite('nats', async () => {
  const nats: NatsServerHandle = await startNats();
  return {
    createDriver: () => new NatsDriver({ servers: nats.url }),
    teardown: () => nats.stop(),
  };
});

// One stream holds every channel's log: its sequences order entries across channels.
runPositionOrderSuite('nats', async () => {
  const nats: NatsServerHandle = await startNats();
  return {
    createDriver: ({ maxLength }) => new NatsDriver({ servers: nats.url, durable: { maxLength } }),
    teardown: () => nats.stop(),
  };
});

describe('nats session store', () => {
  let nats: NatsServerHandle;
  beforeAll(async () => {
    nats = await startNats();
  }, 30_000);
  afterAll(() => nats?.stop());

  it('nats session store - keys are escaped injectively into the key-value alphabet', () => {
    const keys = [
      'app:chat:session:AbC_-x.node-1',
      'a.b',
      'a:b',
      'a=3Ab',
      'a b',
      'ä',
      '😀',
      '/x',
      '=',
      '==',
      '.',
    ];
    const encoded = keys.map(encodeRecordKey);
    for (const e of encoded) expect(e).toMatch(/^[-/=\w]+$/);
    expect(new Set(encoded).size).toBe(keys.length);
    expect(encodeRecordKey('abc_-XYZ09')).toBe('abc_-XYZ09');
  });

  it('nats session store - the bucket is created on first use with history 1 and the configured age limit', async () => {
    const driver = new NatsDriver({ servers: nats.url, sessions: { bucket: 'app-sessions', ttl: 120_000 } });
    const nc = await connect({ servers: nats.url });
    try {
      await driver.connect();
      await driver.putRecord('app:chat:session:x.node-1', new Uint8Array([1, 2]), 60_000);
      const info = await (await jetstreamManager(nc)).streams.info('KV_app-sessions');
      expect(info.config.max_age).toBe(120_000 * 1_000_000);
      expect(info.config.max_msgs_per_subject).toBe(1);
      expect(info.state.messages).toBe(1);
    } finally {
      await driver.close();
      await nc.close();
    }
  });

  it('nats session store - a TTL beyond the bucket age limit is refused', async () => {
    const driver = new NatsDriver({ servers: nats.url, sessions: { bucket: 'short', ttl: 10_000 } });
    try {
      await driver.connect();
      await expect(driver.putRecord('k', new Uint8Array([1]), 20_000)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      await expect(driver.putRecord('k', new Uint8Array([1]), 10_000)).resolves.toBeUndefined();
    } finally {
      await driver.close();
    }
  });

  it('nats session store - without JetStream the store rejects with a BrokerError, and publishing still works', async () => {
    const plain = await startNats({ jetstream: false });
    const driver = new NatsDriver({ servers: plain.url, sessions: { timeout: 1_000 } });
    try {
      await driver.connect();
      await expect(driver.getRecord('k')).rejects.toBeInstanceOf(BrokerError);
      await expect(driver.putRecord('k', new Uint8Array([1]), 1_000)).rejects.toBeInstanceOf(BrokerError);
      await expect(driver.publish('c', new Uint8Array([1]))).resolves.toBeUndefined();
    } finally {
      await driver.close();
      await plain.stop();
    }
  });
});
