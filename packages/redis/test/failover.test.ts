import { type BackplaneEvent, HubLifetimeManager } from '@backplane/core';
import { MessageType } from '@backplane/hub-protocol';
import {
  type StreamTally,
  startRedis,
  startRedisCluster,
  startRedisSentinel,
  startTcpProxy,
  TestClient,
  tallyStream,
  waitFor,
} from '@backplane/testkit';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisDriver } from '../src/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
/** One group message every this many ms. */
const SEND_EVERY_MS = 20;
/** Steady load before the fault, in ms (a random 0–500 ms more is added). */
const LOAD_BEFORE_MS = 500;
/** Load after delivery resumed, in ms. */
const LOAD_AFTER_MS = 1_000;
/** How long the failover and the recovery may take, in ms. */
const RECOVER_WITHIN_MS = 45_000;
/** Time for the driver's own sentinel subscriptions to see a `+switch-master` this test saw, in ms. */
const ANNOUNCE_SETTLE_MS = 300;

interface Run extends StreamTally {
  gaps: number;
  dropped: number;
  replayed: number;
  /** The gap events' seq ranges, in order (`missing` has the message numbers never received). */
  gapRanges: Array<[number, number]>;
  recovered: boolean[];
  /** The receiver's outage reasons, in order. */
  outages: string[];
}

/**
 * Two managers (sender, receiver with one client in group 'g'), one group message every
 * {@link SEND_EVERY_MS}; `fault` runs at a random point; the load goes on until a message sent after the
 * fault arrives, and for {@link LOAD_AFTER_MS} more.
 */
async function steadyStream(
  driver: () => RedisDriver,
  durable: boolean,
  fault: (channel: string) => Promise<void>,
): Promise<Run> {
  const options = {
    prefix: `failover-${Math.random().toString(36).slice(2)}:`,
    logger: quiet,
    durable,
    liveness: { probeInterval: 200, probeTimeout: 500 },
  };
  const sender = new HubLifetimeManager({ ...options, driver: driver() });
  const receiver = new HubLifetimeManager({ ...options, driver: driver() });
  const events: BackplaneEvent[] = [];
  const subscription = receiver.events$.subscribe((e) => events.push(e));
  try {
    await Promise.all([sender.start(), receiver.start()]);
    const client = new TestClient({ connectionId: receiver.createConnectionId() });
    await receiver.onConnected(client);
    await sender.addToGroup(client.connectionId, 'g');
    const received: number[] = [];
    const drain = () => {
      for (let m = client.tryRead(); m; m = client.tryRead())
        if (m.type === MessageType.Invocation) received.push(Number(m.arguments[0]));
    };
    let sent = 0;
    let sending = true;
    const load = (async () => {
      while (sending) {
        await sender.sendGroup('g', 'n', [String(sent++)]).catch(() => undefined);
        drain();
        await new Promise((resolve) => setTimeout(resolve, SEND_EVERY_MS));
      }
    })();
    await waitFor(() => received.length > 10, { name: 'traffic before the fault' });
    await new Promise((resolve) => setTimeout(resolve, LOAD_BEFORE_MS + Math.random() * 500));
    await fault(receiver.channels.group('g'));
    const probe = sent;
    await waitFor(() => received.some((n) => n >= probe), {
      name: 'delivery resumed after the failover',
      timeoutMs: RECOVER_WITHIN_MS,
    });
    await new Promise((resolve) => setTimeout(resolve, LOAD_AFTER_MS));
    sending = false;
    await load;
    const last = sent - 1;
    await waitFor(
      () => {
        drain();
        return received.includes(last);
      },
      { name: 'the last message', timeoutMs: 30_000 },
    );
    // Replays and gap reports of what was missed settle before the last message is delivered.
    const gaps = events
      .filter((e): e is Extract<BackplaneEvent, { type: 'gap' }> => e.type === 'gap')
      .filter((e) => e.channel === receiver.channels.group('g'))
      .map((e): [number, number] => [e.from, e.to]);
    return {
      ...tallyStream(sent, received),
      gaps: receiver.stats.gaps,
      dropped: sender.stats.dropped,
      replayed: receiver.stats.replayed,
      gapRanges: gaps,
      recovered: events
        .filter((e): e is Extract<BackplaneEvent, { type: 'recovered' }> => e.type === 'recovered')
        .map((e) => e.recovered),
      outages: events
        .filter((e): e is Extract<BackplaneEvent, { type: 'outage-started' }> => e.type === 'outage-started')
        .map((e) => e.reason),
    };
  } finally {
    subscription.unsubscribe();
    await Promise.allSettled([sender.close(), receiver.close()]);
  }
}

/** What must hold in every mode: nothing duplicated or reordered, every loss reported. */
function expectNoSilentLoss(run: Run): void {
  expect(run.duplicated).toBe(0);
  expect(run.reordered).toBe(0);
  expect(run.gaps + run.dropped, JSON.stringify(run.missing)).toBeGreaterThanOrEqual(run.lostAfterFirst);
}

/** Durable mode: what is lost is exactly what the receiver reported missing, run for run. */
function expectExactLoss(run: Run): void {
  expect(run.dropped).toBe(0);
  expect(run.gaps).toBe(run.lost);
  expect(run.gapRanges.map(([from, to]) => to - from)).toEqual(run.missing.map(([from, to]) => to - from));
  // One sender, one channel: seq and message number differ by a constant.
  expect(new Set(run.gapRanges.map(([from], i) => from - run.missing[i]![0])).size).toBeLessThanOrEqual(1);
}

const report: string[] = [];
function record(label: string, run: Run): void {
  const { sent, lost, duplicated, reordered, gaps, dropped, replayed, recovered } = run;
  report.push(
    `${label}: sent ${sent} lost ${lost} dup ${duplicated} reordered ${reordered} gaps ${gaps} dropped ${dropped} replayed ${replayed} recovered ${JSON.stringify(recovered)} outages ${JSON.stringify(run.outages)}`,
  );
  process.stdout.write(`${report.at(-1)}\n`);
}

describe('redis failover', () => {
  it('failover - durable: a log whose history changed under the reader (its last position gone, nothing trimmed) reads as incomplete', async () => {
    const redis = await startRedis();
    const driver = new RedisDriver({ url: redis.url, durable: {} });
    try {
      await driver.connect();
      for (let i = 0; i < 5; i++) await driver.publishDurable('h', Buffer.from(String(i)));
      const ids = (await redis.cli('xrange', 'h', '-', '+')).split('\n').filter((l) => /^\d+-\d+$/.test(l));
      expect(ids).toHaveLength(5);
      const position = ids[4]!; // the reader got everything
      expect((await driver.readLog('h', position, 100)).complete).toBe(true);
      // What a promoted replica that never received the last two entries holds: the first three only
      // (no deletion recorded), then what is published after the failover.
      await redis.cli('del', 'h');
      for (const [i, id] of ids.slice(0, 3).entries()) await redis.cli('xadd', 'h', id, 'p', String(i));
      await driver.publishDurable('h', Buffer.from('after'));
      const read = await driver.readLog('h', position, 100);
      expect(read.entries.map((e) => Buffer.from(e.payload).toString())).toEqual(['after']);
      expect(read.complete).toBe(false);
      // Reading on from an entry the new history holds is complete again.
      expect((await driver.readLog('h', ids[2]!, 100)).complete).toBe(true);
      // The log itself gone (a restart without data) while the reader had a position: incomplete too.
      await redis.cli('del', 'h');
      expect((await driver.readLog('h', position, 100)).complete).toBe(false);
    } finally {
      await driver.close();
      await redis.stop();
    }
  }, 30_000);

  it('failover - sentinel, the failover announced while the driver is asking a sentinel for the master: the driver still reconnects to the promoted master', async () => {
    const sentinel = await startRedisSentinel();
    // The driver knows the first sentinel through a proxy that can hold its next lookup.
    const proxy = await startTcpProxy(sentinel.sentinels[0]!.port);
    const driver = new RedisDriver({
      url: `redis+sentinel://127.0.0.1:${proxy.port}/${sentinel.masterName}`,
      reconnect: { initialDelay: 50, maxDelay: 200 },
    });
    const watcher = new Redis({ port: sentinel.sentinels[1]!.port, lazyConnect: true });
    try {
      await driver.connect();
      await driver.subscribe('c');
      await watcher.subscribe('+switch-master');
      const announced = new Promise((resolve) => watcher.once('message', resolve));
      proxy.hold();
      const master = await sentinel.master();
      await master.kill();
      // The driver lost its master and is now asking the first sentinel again, unanswered.
      await waitFor(() => driver.state.type === 'disconnected', { name: 'the driver saw the master die' });
      await sentinel.waitForFailover(master.port, RECOVER_WITHIN_MS);
      await announced;
      await new Promise((resolve) => setTimeout(resolve, ANNOUNCE_SETTLE_MS));
      // The lookup started before the announcement now completes.
      proxy.release();
      await waitFor(() => driver.state.type === 'connected', {
        name: 'the driver connected to the promoted master',
        timeoutMs: 20_000,
      });
      expect(await driver.publish('c', Buffer.from('after'))).toBe(1);
    } finally {
      watcher.disconnect();
      await driver.close();
      proxy.release();
      await proxy.close();
      await sentinel.stop();
    }
  }, 90_000);

  for (const durable of [false, true]) {
    const mode = durable ? 'durable' : 'outbox';
    it(`failover - sentinel, SIGKILL of the master under load (${mode}): the driver follows the promoted replica, every loss reported${durable ? ' exactly' : ''}, no duplicate, order kept`, async () => {
      const sentinel = await startRedisSentinel();
      try {
        const run = await steadyStream(
          () =>
            new RedisDriver({
              url: sentinel.url,
              reconnect: { initialDelay: 50, maxDelay: 500 },
              ...(durable && { durable: {} }),
            }),
          durable,
          async () => {
            const master = await sentinel.master();
            await master.kill();
            await sentinel.waitForFailover(master.port, RECOVER_WITHIN_MS);
          },
        );
        record(`sentinel 1+1 ${mode}`, run);
        expectNoSilentLoss(run);
        if (durable) expectExactLoss(run);
      } finally {
        await sentinel.stop();
      }
    }, 120_000);
  }

  it('failover - cluster 3+3, SIGKILL of the master owning the group channel: its replica takes over, sharded subscriptions move, every loss reported', async () => {
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    try {
      const run = await steadyStream(
        () =>
          new RedisDriver({
            cluster: [...cluster.startupNodes],
            reconnect: { initialDelay: 50, maxDelay: 500 },
          }),
        false,
        async (channel) => {
          const owner = await ownerOf(cluster.nodes[0]!, channel);
          const victim = cluster.nodes.find((n) => n.port === owner)!;
          await victim.kill();
          await cluster.waitForPromotion(owner, RECOVER_WITHIN_MS);
        },
      );
      record('cluster 3+3 outbox', run);
      expectNoSilentLoss(run);
      // The receiver's subscription on the dead shard was lost until it resubscribed on the promoted
      // replica: its link was reported down for that reason, not merely if its own probe happened to
      // travel through that shard.
      expect(run.outages.some((reason) => reason.startsWith('driver degraded'))).toBe(true);
    } finally {
      await cluster.stop();
    }
  }, 180_000);
});

/** The port of the master serving `channel`'s slot (a key-less GET is redirected there). */
async function ownerOf(node: { port: number; cli(...args: string[]): Promise<string> }, channel: string) {
  const reply = await node.cli('get', channel);
  const moved = /MOVED \d+ [\d.]+:(\d+)/.exec(reply);
  return moved ? Number(moved[1]) : node.port;
}
