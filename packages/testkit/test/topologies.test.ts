import { describe, expect, it } from 'vitest';
import { isPortOpen } from '../src/launchers/free-port.js';
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
