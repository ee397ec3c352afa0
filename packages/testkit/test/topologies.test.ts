import { describe, expect, it } from 'vitest';
import { isPortOpen } from '../src/launchers/free-port.js';
import { startRedisCluster } from '../src/launchers/redis-launcher.js';
import { startRedisSentinel } from '../src/launchers/redis-sentinel-launcher.js';

/** True once nothing listens on any of `ports` any more. */
async function allClosed(ports: readonly number[]): Promise<boolean> {
  const open = await Promise.all(ports.map((port) => isPortOpen(port)));
  return open.every((o) => !o);
}

describe('topology - redis sentinel', () => {
  it('topology - sentinel elects a new master after the master is SIGKILLed', async () => {
    const t0 = Date.now();
    const topology = await startRedisSentinel({ replicas: 1, sentinels: 3 });
    const ports = [...topology.servers.map((s) => s.port), ...topology.sentinels.map((s) => s.port)];
    try {
      console.info(`sentinel topology ready in ${Date.now() - t0} ms`);
      expect(topology.url).toBe(
        `redis+sentinel://${topology.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/backplane`,
      );
      const master = await topology.master();
      expect(master).toBe(topology.servers[0]);
      expect(await master.cli('info', 'replication')).toMatch(/role:master/);

      const killedAt = Date.now();
      await master.kill();
      const next = await topology.waitForFailover(master.port, 60_000);
      console.info(`sentinel failover took ${Date.now() - killedAt} ms`);
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
    const t0 = Date.now();
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    const ports = cluster.nodes.map((n) => n.port);
    try {
      console.info(`cluster 3+3 ready in ${Date.now() - t0} ms`);
      expect(cluster.nodes).toHaveLength(6);
      const masters = await cluster.mastersNow();
      expect(masters).toHaveLength(3);
      const victim = masters[0]!;
      const [replica] = await cluster.replicaOf(victim.port);
      expect(replica).toBeDefined();
      expect(await replica!.cli('info', 'replication')).toMatch(/role:slave/);

      const killedAt = Date.now();
      await victim.kill();
      const promoted = await cluster.waitForPromotion(victim.port, 60_000);
      console.info(`cluster promotion took ${Date.now() - killedAt} ms`);
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
