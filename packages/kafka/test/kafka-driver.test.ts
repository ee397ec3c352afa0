import { BrokerError, type DriverState } from '@backplane/core';
import { type KafkaBrokerHandle, runDriverSuite, SETTLE_MS, startKafka, waitFor } from '@backplane/testkit';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type KafkaClient,
  KafkaDriver,
  KafkajsClient,
  type KafkaRecord,
  PlatformaticClient,
} from '../src/index.js';
import { CLIENTS } from './clients.js';

/**
 * The real client, counting the sends the driver makes; `failNext` fails the next send, once `after`
 * settles, without sending it.
 */
class CountingClient implements KafkaClient {
  readonly sends: KafkaRecord[][] = [];
  failNext: { error: Error; after: Promise<void> } | undefined;
  constructor(readonly inner: KafkaClient) {}
  clusterSize = () => this.inner.clusterSize();
  ensureTopic: KafkaClient['ensureTopic'] = (topic, spec) => this.inner.ensureTopic(topic, spec);
  consume: KafkaClient['consume'] = (topic, onRecord, onState) =>
    this.inner.consume(topic, onRecord, onState);
  position: KafkaClient['position'] = (partition) => this.inner.position(partition);
  read: KafkaClient['read'] = (...args) => this.inner.read(...args);
  close = () => this.inner.close();
  async produce(topic: string, records: readonly KafkaRecord[]): Promise<void> {
    this.sends.push([...records]);
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure) {
      await failure.after;
      throw failure.error;
    }
    await this.inner.produce(topic, records);
  }
}

for (const client of CLIENTS) {
  describe(`kafka on ${client}`, () => {
    let kafka: KafkaBrokerHandle;
    const open: KafkaDriver[] = [];
    beforeAll(async () => {
      kafka = await startKafka();
    }, 120_000);
    afterAll(() => kafka?.stop());
    afterEach(async () => {
      await Promise.allSettled(open.splice(0).map((t) => t.close()));
    });

    async function driver(topic: string) {
      const t = new KafkaDriver({ brokers: [kafka.bootstrap], topic, client });
      open.push(t);
      const received: Array<[string, Uint8Array]> = [];
      t.setMessageHandler((channel, payload) => received.push([channel, Uint8Array.from(payload)]));
      await t.connect();
      return { t, received };
    }

    async function countingDriver(topic: string) {
      const brokers = [kafka.bootstrap];
      const counting = new CountingClient(
        client === 'kafkajs' ? new KafkajsClient({ brokers }) : new PlatformaticClient({ brokers }),
      );
      const t = new KafkaDriver({ client: counting, topic });
      open.push(t);
      await t.connect();
      return { t, client: counting };
    }

    // One broker for the file: the suite runs on it before the cases that kill it.
    runDriverSuite(`kafka, ${client}`, async () => {
      const topic = 'contract';
      const producer = new Kafka({ brokers: [kafka.bootstrap], logLevel: logLevel.NOTHING }).producer();
      await producer.connect();
      return {
        createDriver: () => new KafkaDriver({ brokers: [kafka.bootstrap], topic, client }),
        createUnreachable: () =>
          new KafkaDriver({ brokers: ['127.0.0.1:1'], topic, connectTimeout: 2_000, client }),
        publishForeign: async (channel, payload) => {
          await producer.send({ topic, messages: [{ key: channel, value: Buffer.from(payload) }] });
        },
        teardown: () => producer.disconnect(),
      };
    });

    describe(`kafka driver (${client})`, () => {
      it('kafka driver - durable with 3 partitions: each channel keeps one partition, and its log reads back in order', async () => {
        const topic = `durable-parts-${Date.now()}`;
        const t = new KafkaDriver({
          brokers: [kafka.bootstrap],
          topic,
          partitions: 3,
          durable: true,
          client,
        });
        open.push(t);
        await t.connect();
        const channels = ['a', 'b', 'c', 'd', 'e', 'f'];
        const starts = await Promise.all(channels.map((c) => t.logPosition(c)));
        for (let i = 0; i < 5; i++)
          for (const c of channels) await t.publishDurable(c, new TextEncoder().encode(`${c}${i}`));
        const partitions = new Set<string>();
        for (const [n, c] of channels.entries()) {
          const page = await t.readLog(c, starts[n]!, 100);
          expect(page.entries.map((e) => new TextDecoder().decode(e.payload))).toEqual(
            Array.from({ length: 5 }, (_, i) => `${c}${i}`),
          );
          const used = new Set(page.entries.map((e) => e.position.split(':')[0]!));
          expect(used.size).toBe(1);
          partitions.add([...used][0]!);
        }
        expect(partitions.size).toBeGreaterThan(1); // six channels spread over the partitions
      }, 60_000);

      it('kafka driver - durable: records deleted after a position (retention) make the log read incomplete', async () => {
        const topic = `durable-trim-${Date.now()}`;
        const t = new KafkaDriver({ brokers: [kafka.bootstrap], topic, durable: true, client });
        open.push(t);
        await t.connect();
        const start = await t.logPosition('c');
        for (let i = 0; i < 10; i++) await t.publishDurable('c', new TextEncoder().encode(`m${i}`));
        const all = await t.readLog('c', start, 100);
        expect(all).toMatchObject({ complete: true });
        const text = (page: typeof all) => page.entries.map((e) => new TextDecoder().decode(e.payload));
        expect(text(all)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
        // What retention does, on demand: records before m5's offset are deleted.
        const admin = new Kafka({ brokers: [kafka.bootstrap], logLevel: logLevel.NOTHING }).admin();
        await admin.connect();
        try {
          await admin.fetchTopicMetadata({ topics: [topic] }); // kafkajs needs the leaders loaded first
          const [partition, offset] = all.entries[5]!.position.split(':');
          await admin.deleteTopicRecords({
            topic,
            partitions: [{ partition: Number(partition), offset: offset! }],
          });
        } finally {
          await admin.disconnect();
        }
        const behind = await t.readLog('c', all.entries[0]!.position, 100);
        expect(behind.complete).toBe(false);
        expect(text(behind)).toEqual(['m5', 'm6', 'm7', 'm8', 'm9']);
        const inside = await t.readLog('c', all.entries[5]!.position, 100);
        expect(inside.complete).toBe(true);
        expect(text(inside)).toEqual(['m6', 'm7', 'm8', 'm9']);
      }, 60_000);

      it('kafka driver - concurrent publishes go out in batches and reach every server in publish order', async () => {
        const [a, b, c] = [await driver('t1'), await driver('t1'), await driver('t1')];
        await b.t.subscribe('x');
        await c.t.subscribe('x');
        const payloads = Array.from({ length: 50 }, (_, i) => Uint8Array.from([i, 0, 255, 0xc1]));
        await Promise.all(payloads.map((p) => a.t.publish('x', p)));
        await waitFor(() => b.received.length === 50 && c.received.length === 50, { name: 'deliveries' });
        expect(b.received.map(([, p]) => p[0])).toEqual(payloads.map((p) => p[0]));
        expect(c.received[7]).toEqual(['x', payloads[7]]);
      });

      it('kafka driver - the publishes of one turn leave in one send, those made while it is in flight in the next, in call order', async () => {
        const { t: a, client } = await countingDriver('t6');
        const b = await driver('t6');
        await b.t.subscribe('x');
        const first = Array.from({ length: 30 }, (_, i) => a.publish('x', Uint8Array.of(i)));
        expect(client.sends).toHaveLength(0); // nothing leaves before the end of the turn
        await new Promise((resolve) => setImmediate(resolve));
        expect(client.sends.map((s) => s.length)).toEqual([30]); // in flight now
        const second = Array.from({ length: 20 }, (_, i) => a.publish('x', Uint8Array.of(30 + i)));
        expect(await Promise.all([...first, ...second])).toEqual(Array(50).fill(undefined));
        expect(client.sends.map((s) => s.length)).toEqual([30, 20]);
        const all = Array.from({ length: 50 }, (_, i) => i);
        expect(client.sends.flat().map((r) => r.value[0])).toEqual(all);
        await waitFor(() => b.received.length === 50, { name: 'deliveries' });
        expect(b.received.map(([, p]) => p[0])).toEqual(all);
      });

      it('kafka driver - a failed send rejects each of its publishes, and those queued behind it unsent, each with its own BrokerError naming its channel; the next send goes out', async () => {
        const { t: a, client } = await countingDriver('t7');
        const b = await driver('t7');
        await b.t.subscribe('after');
        let refuse!: () => void;
        const refused = new Error('broker refused (test)');
        client.failNext = { error: refused, after: new Promise<void>((resolve) => (refuse = resolve)) };
        const inFlight = [a.publish('p', Uint8Array.of(1)), a.publish('q', Uint8Array.of(2))];
        await new Promise((resolve) => setImmediate(resolve)); // the send of p and q is in flight
        const behind = [a.publish('r', Uint8Array.of(3))];
        refuse();
        const outcomes = await Promise.allSettled([...inFlight, ...behind]);
        const errors = outcomes.map((o) => (o.status === 'rejected' ? (o.reason as BrokerError) : undefined));
        for (const error of errors) expect(error).toBeInstanceOf(BrokerError);
        expect(new Set(errors).size).toBe(3);
        expect(errors.map((e) => /channel '(\w)'/.exec(e!.message)?.[1])).toEqual(['p', 'q', 'r']);
        expect(errors.map((e) => e?.cause)).toEqual([refused, refused, refused]);
        await a.publish('after', Uint8Array.of(4));
        await waitFor(() => b.received.length === 1, { name: 'the next publish' });
        expect(client.sends.map((s) => s.map((r) => r.key))).toEqual([['p', 'q'], ['after']]);
      });

      it('kafka driver - a server that starts later never re-reads history', async () => {
        const a = await driver('t3');
        await a.t.publish('old', new Uint8Array([1]));
        const late = await driver('t3');
        await late.t.subscribe('old');
        await a.t.publish('old', new Uint8Array([2]));
        await waitFor(() => late.received.length === 1, { name: 'the new message' });
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
        expect(late.received.map(([, p]) => p[0])).toEqual([2]);
      });

      it('kafka driver - odd channel names stay literal: separators, wildcards, empty, long, lone surrogates', async () => {
        const [a, b] = [await driver('t5'), await driver('t5')];
        const names = [
          'g:a.b',
          'g:*',
          'g:>',
          'g:with space',
          'g:ünï',
          '',
          'g:x'.repeat(3_000),
          'g:\uD800',
          'g:\uDBFF',
        ];
        for (const name of names) await b.t.subscribe(name);
        await a.t.publish('g:\uFFFD', new Uint8Array([99])); // what a lone surrogate becomes in UTF-8: not subscribed
        for (const [i, name] of names.entries()) await a.t.publish(name, Uint8Array.of(i));
        await waitFor(() => b.received.length === names.length, { name: 'deliveries' });
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
        expect(b.received).toEqual(names.map((n, i) => [n, Uint8Array.of(i)]));
      });

      it('kafka driver - close leaves no consumer group of the instance behind (kafkajs makes two, for the live reader and the session store; platformatic none)', async () => {
        const admin = new Kafka({ brokers: [kafka.bootstrap], logLevel: logLevel.NOTHING }).admin();
        await admin.connect();
        const groups = async () =>
          (await admin.listGroups()).groups.filter((g) => g.groupId.startsWith('backplane-')).length;
        try {
          const before = await groups();
          const t = await driver('t4');
          const during = await groups();
          await t.t.close();
          const after = await groups();
          expect({ during: during - before, after: after - before }).toEqual({
            during: client === 'kafkajs' ? 2 : 0,
            after: 0,
          });
        } finally {
          await admin.disconnect();
        }
      });

      it('kafka driver - broker killed: disconnected and publishes fail; restarted: connected and delivering again', async () => {
        const [a, b] = [await driver('t9'), await driver('t9')];
        await b.t.subscribe('survives');
        const states: DriverState['type'][] = [];
        a.t.state$.subscribe((s) => states.push(s.type));
        const killedAt = Date.now();
        await kafka.kill();
        await waitFor(() => a.t.state.type === 'disconnected' && b.t.state.type === 'disconnected', {
          name: 'disconnected state',
        });
        const detectedMs = Date.now() - killedAt;
        await expect(a.t.publish('survives', new Uint8Array([1]))).rejects.toBeInstanceOf(BrokerError);
        const restartedAt = Date.now();
        await kafka.restart();
        await waitFor(() => a.t.state.type === 'connected' && b.t.state.type === 'connected', {
          name: 'reconnected',
          timeoutMs: 30_000,
        });
        await waitFor(
          async () => {
            await a.t.publish('survives', new Uint8Array([2])).catch(() => {});
            return b.received.length > 0;
          },
          { name: 'delivery after restart', intervalMs: 200, timeoutMs: 30_000 },
        );
        const recoveredMs = Date.now() - restartedAt;
        console.info(
          `kafka kill: disconnected after ${detectedMs} ms; delivering ${recoveredMs} ms after the restart began (broker start included)`,
        );
        expect(states.slice(0, 2)).toEqual(['connected', 'disconnected']);
      }, 90_000);
    });
  });
}
