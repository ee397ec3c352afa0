import type { BackplaneEvent, HubLifetimeManager } from '@backplane/core';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { DEFAULT_TIMEOUT_MS } from './test-client.js';

/** The next event of `type` (matching `where`) on a manager's `events$`; rejects after `timeoutMs`. */
export function nextEvent<T extends BackplaneEvent['type']>(
  manager: HubLifetimeManager,
  type: T,
  where: (event: Extract<BackplaneEvent, { type: T }>) => boolean = () => true,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<Extract<BackplaneEvent, { type: T }>> {
  return firstValueFrom(
    manager.events$.pipe(
      filter(
        (e): e is Extract<BackplaneEvent, { type: T }> =>
          e.type === type && where(e as Extract<BackplaneEvent, { type: T }>),
      ),
      timeout(timeoutMs),
    ),
  );
}
