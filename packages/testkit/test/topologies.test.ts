import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPortOpen } from '../src/launchers/free-port.js';
import { startKafkaCluster } from '../src/launchers/kafka-cluster-launcher.js';
import { startNatsCluster } from '../src/launchers/nats-cluster-launcher.js';
import { startRedisCluster } from '../src/launchers/redis-launcher.js';
import { startRedisSentinel } from '../src/launchers/redis-sentinel-launcher.js';
import { waitFor } from '../src/wait-for.js';

/** True once nothing listens on any of `ports` any more. */
async function allClosed(ports: readonly number[]): Promise<boolean> {
  const open = await Promise.all(ports.map((port) => isPortOpen(port)));
  return open.every((o) => !o);
}

/** One NATS request over the raw protocol (no client library in testkit): the reply's payload. */
function natsRequest(port: number, subject: string, payload: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buffer = '';
    let greeted = false;
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`no reply to ${subject}`));
    });
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      if (!greeted && buffer.includes('\r\n')) {
        greeted = true;
        buffer = '';
        const body = Buffer.byteLength(payload);
        socket.write(
          `CONNECT {"verbose":false}\r\nSUB _INBOX.topology 1\r\nPUB ${subject} _INBOX.topology ${body}\r\n${payload}\r\n`,
        );
      }
      // `MSG <subject> <sid> [reply] <bytes>`: an empty reply field (a message from a route) leaves two spaces.
      const reply = /MSG _INBOX\.topology 1 [^\r\n]*?(\d+)\r\n/.exec(buffer);
      if (reply && buffer.length >= reply.index + reply[0].length + Number(reply[1])) {
        const start = reply.index + reply[0].length;
        socket.destroy();
        resolve(buffer.slice(start, start + Number(reply[1])));
      }
    });
  });
}

describe('topology - missing binaries', () => {
  it('topology - every launcher fails with an install hint when its binary is missing', async () => {
    const saved = process.env.PATH;
    const empty = mkdtempSync(join(tmpdir(), 'backplane-no-binaries-'));
    process.env.PATH = empty;
    try {
      await expect(startRedisSentinel()).rejects.toThrow(
        /redis-server not found on PATH\. Install it: apt-get/,
      );
      await expect(startRedisCluster({ replicasPerMaster: 1 })).rejects.toThrow(
        /redis-cli not found on PATH/,
      );
      await expect(startNatsCluster()).rejects.toThrow(/nats-server not found on PATH\. Install it: apt-get/);
      await expect(startKafkaCluster()).rejects.toThrow(/java not found on PATH\. Install it: apt-get/);
    } finally {
      process.env.PATH = saved;
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('topology - redis sentinel', () => {
  it('topology - sentinel elects a new master after the master is SIGKILLed', async () => {
    const topology = await startRedisSentinel({ replicas: 1, sentinels: 3 });
    const ports = [...topology.servers.map((s) => s.port), ...topology.sentinels.map((s) => s.port)];
    try {
      expect(topology.url).toBe(
        `redis+sentinel://${topology.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/backplane`,
      );
      const master = await topology.master();
      expect(master).toBe(topology.servers[0]);
      expect(await master.cli('info', 'replication')).toMatch(/role:master/);

      await master.kill();
      const next = await topology.waitForFailover(master.port, 60_000);
      expect(next).toBe(topology.servers[1]);
      expect(await topology.master()).toBe(next);
      await next.cli('set', 'after-failover', '1');
      expect(await next.cli('get', 'after-failover')).toBe('1');
    } finally {
      await topology.stop();
    }
    expect(await allClosed(ports)).toBe(true);
  }, 120_000);
});

describe('topology - redis cluster with replicas', () => {
  it('topology - cluster promotes the replica of a SIGKILLed master and stays ok', async () => {
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    const ports = cluster.nodes.map((n) => n.port);
    try {
      expect(cluster.nodes).toHaveLength(6);
      const masters = await cluster.mastersNow();
      expect(masters).toHaveLength(3);
      const victim = masters[0]!;
      const [replica] = await cluster.replicaOf(victim.port);
      expect(replica).toBeDefined();
      expect(await replica!.cli('info', 'replication')).toMatch(/role:slave/);

      await victim.kill();
      const promoted = await cluster.waitForPromotion(victim.port, 60_000);
      expect(promoted).toBe(replica);
      const now = await cluster.mastersNow();
      expect(now).toHaveLength(3);
      expect(now).toContain(promoted);
      expect(now).not.toContain(victim);
    } finally {
      await cluster.stop();
    }
    expect(await allClosed(ports)).toBe(true);
  }, 120_000);
});

describe('topology - nats cluster', () => {
  it('topology - nats survivors elect a meta leader and a stream leader after the leader is SIGKILLed', async () => {
    const cluster = await startNatsCluster({ size: 3 });
    const ports = cluster.servers.flatMap((s) => [s.port, s.clusterPort, s.monitorPort]);
    try {
      expect(cluster.url).toBe(cluster.urls.join(','));
      const created = await natsRequest(
        cluster.servers[0]!.port,
        '$JS.API.STREAM.CREATE.TOPOLOGY',
        JSON.stringify({ name: 'TOPOLOGY', subjects: ['topology.>'], num_replicas: 3 }),
      );
      expect(JSON.parse(created)).not.toHaveProperty('error');
      const leader = await waitFor(() => cluster.metaLeader(), { timeoutMs: 30_000, name: 'meta leader' });
      await waitFor(() => cluster.streamLeader('TOPOLOGY'), { timeoutMs: 30_000, name: 'stream leader' });

      await leader.kill();
      const next = await waitFor(() => cluster.metaLeader(), { timeoutMs: 60_000, name: 'new meta leader' });
      const streamLeader = await waitFor(() => cluster.streamLeader('TOPOLOGY'), {
        timeoutMs: 60_000,
        name: 'stream leader on a survivor',
      });
      expect(next).not.toBe(leader);
      expect(streamLeader).not.toBe(leader);
      const survivor = cluster.servers.find((s) => s !== leader)!;
      const published = await natsRequest(survivor.port, 'topology.x', 'after failover');
      expect(JSON.parse(published)).toMatchObject({ stream: 'TOPOLOGY' });
    } finally {
      await cluster.stop();
    }
    expect(await allClosed(ports)).toBe(true);
  }, 120_000);
});

// Three JVMs: run last, and alone.
describe('topology - kafka cluster', () => {
  it('topology - kafka moves partition leadership off a SIGKILLed broker (RF 3)', async () => {
    const cluster = await startKafkaCluster({ brokers: 3 });
    const ports = cluster.brokers.flatMap((b) => [b.port, b.controllerPort]);
    try {
      expect(cluster.bootstrap).toBe(cluster.brokers.map((b) => b.bootstrap).join(','));
      await cluster.withAdmin((admin) =>
        admin.createTopics({
          topics: [{ topic: 'topology', numPartitions: 1, replicationFactor: 3 }],
          waitForLeaders: true,
        }),
      );
      const leader = await waitFor(() => cluster.leaderOf('topology', 0), {
        timeoutMs: 30_000,
        name: 'leader',
      });

      await leader.kill();
      const next = await waitFor(
        async () => {
          const now = await cluster.leaderOf('topology', 0);
          return now !== leader ? now : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250, name: 'partition leadership on a survivor' },
      );
      expect(cluster.brokers).toContain(next);
      expect(next.nodeId).not.toBe(leader.nodeId);
    } finally {
      await cluster.stop();
    }
    expect(await allClosed(ports)).toBe(true);
  }, 300_000);
});
