import type { Brokers, DriverName } from '../brokers.js';
import { connect, startCluster, stopCluster } from '../cluster.js';
import { createRawClient, type RawClient, uniqueName } from '../drivers.js';
import type { Progress } from '../util/progress.js';
import { alternate, median } from '../util/stats.js';
import { Counter, pump } from '../util/wait.js';

/** Scenario 1 sizes. */
export interface EfficiencyOptions {
  drivers: readonly DriverName[];
  /** Messages per round. */
  messages: number;
  rounds: number;
  /** Publishes in flight at most. */
  window: number;
}

export interface EfficiencyResult {
  readonly driver: DriverName;
  /** Deliveries per second (messages × 3 receiving servers), median over the rounds. */
  readonly raw: number;
  readonly sendAll: number;
  readonly sendGroup: number;
  readonly rounds: Record<'raw' | 'sendAll' | 'sendGroup', number[]>;
  readonly error?: string;
}

const RECEIVERS = 3;
const TEXT = 'x'.repeat(100);
const PAYLOAD = new Uint8Array(100).fill(120);
type Contender = 'raw' | 'sendAll' | 'sendGroup';

/**
 * Backplane efficiency: a publishing node fans out to 3 servers (one connection each), with `sendAll` and
 * with `sendGroup` (the group has a member on each server), against the raw broker client doing the same
 * fan-out (one publisher, 3 subscribers). 100-byte application payloads.
 */
export async function runEfficiency(
  brokers: Brokers,
  options: EfficiencyOptions,
  progress: Progress,
): Promise<EfficiencyResult[]> {
  const results: EfficiencyResult[] = [];
  for (const driver of options.drivers) {
    progress.step(`efficiency: ${driver}`);
    const rounds: Record<Contender, number[]> = { raw: [], sendAll: [], sendGroup: [] };
    const counter = new Counter();
    const name = uniqueName('bench-raw-');
    const raws: RawClient[] = [];
    const managers = await startCluster(driver, brokers, RECEIVERS + 1);
    try {
      for (let i = 0; i <= RECEIVERS; i++) raws.push(await createRawClient(driver, brokers, name));
      for (const raw of raws.slice(1)) await raw.subscribe(name, () => counter.add());
      const sender = managers[RECEIVERS]!;
      for (const manager of managers.slice(0, RECEIVERS)) {
        const connection = await connect(manager, () => counter.add());
        await manager.addToGroup(connection.connectionId, 'g');
      }
      const send: Record<Contender, (i: number) => Promise<unknown> | undefined> = {
        raw: (_i) => raws[0]!.publish(name, PAYLOAD),
        sendAll: (i) => sender.sendAll('m', [i, TEXT]),
        sendGroup: (i) => sender.sendGroup('g', 'm', [i, TEXT]),
      };
      await alternate<Contender>(
        ['raw', 'sendAll', 'sendGroup'],
        options.rounds,
        async (contender, round) => {
          progress.detail(`efficiency: ${driver} ${contender} round ${round + 1}/${options.rounds}`);
          counter.value = 0;
          const started = performance.now();
          await pump(options.messages, options.window, send[contender]);
          await counter.until(options.messages * RECEIVERS, 120_000, `${driver} ${contender} deliveries`);
          rounds[contender].push((options.messages * RECEIVERS * 1000) / (performance.now() - started));
        },
      );
      const result = {
        driver,
        raw: median(rounds.raw),
        sendAll: median(rounds.sendAll),
        sendGroup: median(rounds.sendGroup),
        rounds,
      };
      progress.note(
        `${driver}: raw ${fmt(result.raw)}/s, sendAll ${fmt(result.sendAll)}/s (${pct(result.sendAll / result.raw)}), sendGroup ${fmt(result.sendGroup)}/s (${pct(result.sendGroup / result.raw)})`,
      );
      results.push(result);
    } catch (error) {
      progress.note(`${driver}: failed: ${(error as Error).message}`);
      results.push({
        driver,
        raw: Number.NaN,
        sendAll: Number.NaN,
        sendGroup: Number.NaN,
        rounds,
        error: String(error),
      });
    } finally {
      await stopCluster(managers);
      await Promise.allSettled(raws.map((r) => r.close()));
    }
  }
  return results;
}

export function fmt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a';
}
export function pct(r: number): string {
  return Number.isFinite(r) ? `${Math.round(r * 100)} %` : 'n/a';
}
