import { TransportError } from '@backplane/core';
import { freePort, type KafkaBrokerHandle, startKafka, waitFor } from '@backplane/testkit';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KafkaTransport } from '../src/index.js';

/** How long a negative check ("nothing arrives") waits, in ms. */
const SETTLE_MS = 300;

let kafka: KafkaBrokerHandle;
const open: KafkaTransport[] = [];
beforeAll(async () => {
  kafka = await startKafka();
}, 120_000);
afterAll(() => kafka?.stop());
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((t) => t.close()));
});

async function transport(topic: string) {
  const t = new KafkaTransport({ brokers: [kafka.bootstrap], topic });
  open.push(t);
  const received: Array<[string, Uint8Array]> = [];
  t.setMessageHandler((channel, payload) => received.push([channel, Uint8Array.from(payload)]));
  await t.connect();
  return { t, received };
}

describe('kafka transport', () => {
  it('kafka transport - every server gets every message of its channels, binary-safe, in order', async () => {
    const [a, b, c] = [await transport('t1'), await transport('t1'), await transport('t1')];
    await b.t.subscribe('x');
    await c.t.subscribe('x');
    const payloads = Array.from({ length: 50 }, (_, i) => Uint8Array.from([i, 0, 255, 0xc1]));
    await Promise.all(payloads.map((p) => a.t.publish('x', p)));
    await waitFor(() => b.received.length === 50 && c.received.length === 50, { name: 'deliveries' });
    expect(b.received.map(([, p]) => p[0])).toEqual(payloads.map((p) => p[0]));
    expect(c.received[7]).toEqual(['x', payloads[7]]);
  });

  it('kafka transport - a server only keeps the channels it subscribed (receiver-side filtering)', async () => {
    const [a, b] = [await transport('t2'), await transport('t2')];
    await b.t.subscribe('mine');
    await a.t.publish('not-mine', new Uint8Array([1]));
    await a.t.publish('mine', new Uint8Array([2]));
    await waitFor(() => b.received.length === 1, { name: 'delivery' });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(b.received.map(([c]) => c)).toEqual(['mine']);
  });

  it('kafka transport - a server that starts later never re-reads history', async () => {
    const a = await transport('t3');
    await a.t.publish('old', new Uint8Array([1]));
    const late = await transport('t3');
    await late.t.subscribe('old');
    await a.t.publish('old', new Uint8Array([2]));
    await waitFor(() => late.received.length === 1, { name: 'the new message' });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(late.received.map(([, p]) => p[0])).toEqual([2]);
  });

  it('kafka transport - close removes the consumer group of the instance', async () => {
    const admin = new Kafka({ brokers: [kafka.bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const t = await transport('t4');
      const during = (await admin.listGroups()).groups.filter((g) =>
        g.groupId.startsWith('backplane-'),
      ).length;
      await t.t.close();
      const after = (await admin.listGroups()).groups.filter((g) =>
        g.groupId.startsWith('backplane-'),
      ).length;
      expect(after).toBe(during - 1);
    } finally {
      await admin.disconnect();
    }
  });

  it('kafka transport - connecting to nothing rejects with TransportError within connectTimeout', async () => {
    const t = new KafkaTransport({ brokers: [`127.0.0.1:${await freePort()}`], connectTimeout: 2_000 });
    const started = Date.now();
    await expect(t.connect()).rejects.toBeInstanceOf(TransportError);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
