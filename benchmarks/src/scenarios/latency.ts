import type { HubLifetimeManager } from '@backplane/core';
import type { Brokers, DriverName } from '../brokers.js';
import { connect, firstArgument, startCluster, stopCluster } from '../cluster.js';
import { createRawClient, type RawClient, uniqueName } from '../drivers.js';
import type { Progress } from '../util/progress.js';
import { alternate, type LatencySummary, median, summarizeLatency } from '../util/stats.js';
import { Counter } from '../util/wait.js';

export interface LatencyOptions {
  drivers: readonly DriverName[];
  /** Messages per second. */
  rates: readonly number[];
  /** Measured time per rate and contender, in ms (after {@link WARMUP_MS}). */
  durationMs: number;
  rounds: number;
}

export interface LatencyPoint {
  readonly driver: DriverName;
  readonly rate: number;
  /** Medians over the rounds of each round's percentiles, in ms. */
  readonly raw: LatencySummary;
  readonly backplane: LatencySummary;
  /** Messages that never arrived (summed over rounds). */
  readonly lost: { raw: number; backplane: number };
  readonly error?: string;
}

/** Sent but not measured, at the start of each run: connections warm up, JIT settles. */
const WARMUP_MS = 300;
const TEXT = 'x'.repeat(100);

/**
 * Cross-node latency at fixed rates: server A `sendAll`s, server B's connection receives; next to it the raw
 * client publishing to a raw subscriber at the same rate. Latency runs from the message's *scheduled* send
 * time (no coordinated omission: a stalled sender shows up as latency) to its arrival.
 */
export async function runLatency(
  brokers: Brokers,
  options: LatencyOptions,
  progress: Progress,
): Promise<LatencyPoint[]> {
  const points: LatencyPoint[] = [];
  for (const driver of options.drivers) {
    progress.step(`latency: ${driver} at ${options.rates.map((r) => `${r / 1000}k`).join(', ')} msg/s`);
    const name = uniqueName('bench-lat-');
    const raws: RawClient[] = [];
    let managers: HubLifetimeManager[] = [];
    let onArrival: (i: number) => void = () => {};
    try {
      managers = await startCluster(driver, brokers, 2);
      await connect(managers[1]!, (frame) => onArrival(firstArgument(frame)));
      raws.push(await createRawClient(driver, brokers, name), await createRawClient(driver, brokers, name));
      await raws[1]!.subscribe(name, (payload) =>
        onArrival(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).readUInt32LE(0)),
      );
      for (const rate of options.rates) {
        const rounds: Record<'raw' | 'backplane', LatencySummary[]> = { raw: [], backplane: [] };
        const lost = { raw: 0, backplane: 0 };
        await alternate(['raw', 'backplane'] as const, options.rounds, async (contender, round) => {
          progress.detail(
            `latency: ${driver} ${rate} msg/s ${contender} round ${round + 1}/${options.rounds}`,
          );
          const send =
            contender === 'raw'
              ? (i: number) => {
                  const payload = Buffer.alloc(100);
                  payload.writeUInt32LE(i, 0);
                  return raws[0]!.publish(name, payload);
                }
              : (i: number) => managers[0]!.sendAll('m', [i, TEXT]);
          const run = await fixedRate(rate, options.durationMs, send, (handler) => {
            onArrival = handler;
          });
          rounds[contender].push(run.summary);
          lost[contender] += run.lost;
        });
        const point: LatencyPoint = {
          driver,
          rate,
          raw: medianSummary(rounds.raw),
          backplane: medianSummary(rounds.backplane),
          lost,
        };
        progress.note(
          `${driver} @ ${rate}/s: p50/p99/p999 raw ${ms(point.raw)}, backplane ${ms(point.backplane)}${lost.raw + lost.backplane ? ` (lost raw ${lost.raw}, backplane ${lost.backplane})` : ''}`,
        );
        points.push(point);
      }
    } catch (error) {
      progress.note(`${driver}: failed: ${(error as Error).message}`);
      const empty = summarizeLatency([]);
      for (const rate of options.rates)
        if (!points.some((p) => p.driver === driver && p.rate === rate))
          points.push({
            driver,
            rate,
            raw: empty,
            backplane: empty,
            lost: { raw: 0, backplane: 0 },
            error: String(error),
          });
    } finally {
      await stopCluster(managers);
      await Promise.allSettled(raws.map((r) => r.close()));
    }
  }
  return points;
}

/** Sends at `rate` for warm-up + `durationMs`, on a 1 ms tick, and records each arrival's latency. */
async function fixedRate(
  rate: number,
  durationMs: number,
  send: (i: number) => Promise<unknown> | undefined,
  listen: (handler: (i: number) => void) => void,
): Promise<{ summary: LatencySummary; lost: number }> {
  const total = Math.round((rate * (WARMUP_MS + durationMs)) / 1000);
  const warmup = Math.round((rate * WARMUP_MS) / 1000);
  const interval = 1000 / rate;
  const latencies = new Float64Array(total - warmup);
  const arrived = new Counter();
  let start = 0;
  listen((i) => {
    if (i >= total) return;
    if (i >= warmup) latencies[i - warmup] = performance.now() - (start + i * interval);
    arrived.add();
  });
  start = performance.now();
  let sent = 0;
  let failed: unknown;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
      for (; sent < due; sent++) send(sent)?.catch((error: unknown) => (failed = error));
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  let lost = 0;
  await arrived.until(total, 15_000, 'arrivals').catch(() => {
    lost = total - arrived.value;
  });
  if (failed) throw failed;
  const received = latencies.filter((v) => v > 0);
  return { summary: summarizeLatency(received), lost };
}

function medianSummary(rounds: readonly LatencySummary[]): LatencySummary {
  return {
    count: rounds.reduce((n, r) => n + r.count, 0),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    p999: median(rounds.map((r) => r.p999)),
    max: Math.max(...rounds.map((r) => r.max)),
  };
}

function ms(s: LatencySummary): string {
  return `${s.p50.toFixed(2)}/${s.p99.toFixed(2)}/${s.p999.toFixed(2)} ms`;
}
