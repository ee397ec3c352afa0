import { asyncScheduler, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { DriverState } from '../src/driver.js';
import { linkState, outageEvents } from '../src/resilience/link-state.js';
import { liveness } from '../src/resilience/liveness.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
const opts = { probeInterval: 1000, probeTimeout: 2000 };
const tf = { t: true, f: false };

/** Marks activity at the given virtual times. */
function activityAt(times: number[]): () => number {
  let last = 0;
  for (const at of times) asyncScheduler.schedule(() => (last = asyncScheduler.now()), at);
  return () => last;
}

describe('resilience liveness', () => {
  it('liveness - traffic keeps the link alive without probes', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const probes: number[] = [];
      const last = activityAt([500, 1200, 1900, 2600, 3300, 4000]);
      const result = liveness(last, (id) => probes.push(id), cold('-'), opts);
      expectObservable(result, '^ 4500ms !').toBe('t', tf);
      asyncScheduler.schedule(() => expect(probes).toEqual([]), 4500);
    });
  });

  it('liveness - a probe that comes back keeps the link up', () => {
    scheduler().run(({ expectObservable }) => {
      const answers$ = new Subject<number>();
      const probe = (id: number) => asyncScheduler.schedule(() => answers$.next(id), 10);
      const result = liveness(() => 0, probe, answers$, opts);
      expectObservable(result, '^ 6000ms !').toBe('t', tf);
    });
  });

  it('liveness - a frozen broker is declared down after interval + timeout, and up when traffic returns', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const last = activityAt([6500]);
      const result = liveness(last, () => {}, cold('-'), opts);
      // silent since 0: check at 1000 sends a probe, lost at 3000; traffic at 6500, seen by the check at 7000
      expectObservable(result, '^ 7500ms !').toBe('t 2999ms f 3999ms t', tf);
    });
  });

  it('liveness - a probe that cannot be sent counts as lost', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const result = liveness(
        () => 0,
        () => {
          throw new Error('publish failed');
        },
        cold('-'),
        opts,
      );
      expectObservable(result, '^ 1500ms !').toBe('t 999ms f', tf);
    });
  });

  it('link state - down while the driver is not connected or the probe failed; outages become events', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const states: Record<string, DriverState> = {
        c: { type: 'connected' },
        d: { type: 'disconnected' },
      };
      const state$ = hot('c 99ms d 99ms c 99ms - 99ms -', states);
      const alive$ = hot('t 99ms - 99ms - 99ms f 99ms t', tf);
      const events$ = outageEvents(linkState(state$, alive$), () => asyncScheduler.now());
      expectObservable(events$).toBe('- 99ms s 99ms e 99ms p 99ms n', {
        s: { type: 'outage-started', at: 100, reason: 'driver disconnected' },
        e: { type: 'outage-ended', at: 200, durationMs: 100 },
        p: { type: 'outage-started', at: 300, reason: 'probe timeout' },
        n: { type: 'outage-ended', at: 400, durationMs: 100 },
      });
    });
  });

  it('link state - degraded counts as down and names what is off', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const states: Record<string, DriverState> = {
        c: { type: 'connected' },
        g: { type: 'degraded', reason: 'durable log not acknowledging' },
      };
      const state$ = hot('c 99ms g 99ms c', states);
      const alive$ = hot('t', tf);
      expectObservable(linkState(state$, alive$)).toBe('u 99ms d 99ms u', {
        u: { up: true },
        d: { up: false, reason: 'driver degraded: durable log not acknowledging' },
      });
    });
  });
});
