import {
  asyncScheduler,
  defer,
  distinctUntilChanged,
  exhaustMap,
  filter,
  map,
  type Observable,
  of,
  race,
  type SchedulerLike,
  startWith,
  take,
  timer,
} from 'rxjs';

/** How an outage is detected: a probe through the broker after a silence, and how long it may take. */
export interface LivenessOptions {
  /** How often the link is checked, and the silence (nothing received) that triggers a probe, in ms. @default 1_000 */
  probeInterval?: number;
  /** How long a probe may take to come back before the link is declared down, in ms. @default 2_000 */
  probeTimeout?: number;
}

/**
 * Whether the publish path works end to end, as a stream of booleans (starting with `true`).
 *
 * Every `probeInterval` the link is checked: if something was received within the last `probeInterval`
 * it is alive. Otherwise a probe goes out through the real publish path to this server's own inbox; if
 * it does not come back within `probeTimeout` the link is declared down, even though the TCP connection
 * may look healthy (a frozen or black-holed broker). Worst-case detection: 2 × interval + timeout after
 * the last message. The receive hot path only stores a timestamp (`lastActivity`).
 *
 * @param lastActivity when the last message was received, on `scheduler`'s clock
 * @param probe sends probe number `id`; a throw counts as a lost probe
 * @param answers$ emits the id of every probe that came back
 */
export function liveness(
  lastActivity: () => number,
  probe: (id: number) => void,
  answers$: Observable<number>,
  options: LivenessOptions = {},
  scheduler: SchedulerLike = asyncScheduler,
): Observable<boolean> {
  const interval = options.probeInterval ?? 1_000;
  const timeout = options.probeTimeout ?? 2_000;
  let nextId = 0;
  const probeOnce = () =>
    defer(() => {
      const id = ++nextId;
      try {
        probe(id);
      } catch {
        return of(false);
      }
      return race(
        answers$.pipe(
          filter((answer) => answer === id),
          take(1),
          map(() => true),
        ),
        timer(timeout, scheduler).pipe(map(() => false)),
      );
    });
  return timer(interval, interval, scheduler).pipe(
    exhaustMap(() => (scheduler.now() - lastActivity() < interval ? of(true) : probeOnce())),
    startWith(true),
    distinctUntilChanged(),
  );
}
