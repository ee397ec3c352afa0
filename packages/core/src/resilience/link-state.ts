import { combineLatest, distinctUntilChanged, map, Observable } from 'rxjs';
import type { DriverState } from '../driver.js';
import type { BackplaneEvent } from './events.js';

/** Whether the backplane can be used now; `reason` says why not. */
export type LinkState = { readonly up: true } | { readonly up: false; readonly reason: string };

/** Combines the driver's state and the liveness probe into one up/down stream. */
export function linkState(
  state$: Observable<DriverState>,
  alive$: Observable<boolean>,
): Observable<LinkState> {
  return combineLatest([state$, alive$]).pipe(
    map(([state, alive]): LinkState => {
      // `degraded` counts as down: something the sends need does not work (a durable log that does not
      // acknowledge, say), so publishes wait in the outbox, bounded and reported, until the driver reports
      // `connected` again (the driver watches its own degraded part; core sends nothing meanwhile).
      if (state.type === 'degraded') return { up: false, reason: `driver degraded: ${state.reason}` };
      if (state.type !== 'connected') return { up: false, reason: `driver ${state.type}` };
      if (!alive) return { up: false, reason: 'probe timeout' };
      return { up: true };
    }),
    distinctUntilChanged((a, b) => a.up === b.up),
  );
}

/**
 * Turns link transitions into `outage-started` / `outage-ended` events. Being down before the link was
 * ever up is not an outage (that is `connect()` failing or still trying).
 */
export function outageEvents(link$: Observable<LinkState>, now: () => number): Observable<BackplaneEvent> {
  return new Observable<BackplaneEvent>((subscriber) => {
    let downSince: number | undefined;
    let wasUp = false;
    return link$.subscribe({
      next: (link) => {
        if (link.up) {
          if (downSince !== undefined) {
            const at = now();
            subscriber.next({ type: 'outage-ended', at, durationMs: at - downSince });
            downSince = undefined;
          }
          wasUp = true;
        } else if (wasUp && downSince === undefined) {
          downSince = now();
          subscriber.next({ type: 'outage-started', at: downSince, reason: link.reason });
        }
      },
      error: (error: unknown) => subscriber.error(error),
      complete: () => subscriber.complete(),
    });
  });
}
