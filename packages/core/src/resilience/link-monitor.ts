import { of, Subject, type Subscription, tap } from 'rxjs';
import type { Driver } from '../driver.js';
import type { Logger } from '../logger.js';
import type { Publisher } from '../publisher.js';
import type { BackplaneEvent } from './events.js';
import { type LinkState, linkState, outageEvents } from './link-state.js';
import { type LivenessOptions, liveness } from './liveness.js';
import type { PublishLink } from './publish-link.js';

export interface LinkMonitorOptions {
  /** The driver's state. */
  readonly driver: Pick<Driver, 'state$'>;
  /** Told whether the broker is usable; probes go straight through it, past the outbox. */
  readonly link: Pick<PublishLink, 'setUp' | 'publishDirect'>;
  /** Sends the probes. */
  readonly publisher: Pick<Publisher, 'publish'>;
  /** This server's inbox, where its probes come back. */
  readonly inbox: string;
  /** See `HubLifetimeManagerOptions.liveness`. */
  readonly liveness: LivenessOptions | false;
  readonly log: Logger;
  /** Outages and their end. */
  readonly emit: (event: BackplaneEvent) => void;
}

/**
 * Link state = driver state + liveness probe (through the real publish path, quiet while messages
 * arrive); feeds the outbox and the outage events.
 */
export class LinkMonitor {
  readonly #options: LinkMonitorOptions;
  readonly #probeAnswers = new Subject<number>();
  #state: LinkState = { up: false, reason: 'not started' };
  #pipeline: Subscription | undefined;
  #lastActivity = 0;

  constructor(options: LinkMonitorOptions) {
    this.#options = options;
  }

  /** Whether the broker is usable now (driver state and liveness probe combined). */
  get state(): LinkState {
    return this.#state;
  }

  /** A message arrived: the link carries traffic. */
  activity(): void {
    this.#lastActivity = Date.now();
  }

  /** One of this server's probes came back. */
  probeAnswered(id: number): void {
    this.#probeAnswers.next(id);
  }

  /** Link state = driver state + liveness probe; feeds the outbox and the outage events. */
  start(): void {
    const { driver, link, log, emit } = this.#options;
    this.#lastActivity = Date.now();
    const alive$ =
      this.#options.liveness === false
        ? of(true) // trust the driver's state alone
        : liveness(
            () => this.#lastActivity,
            (id) => this.#sendProbe(id),
            this.#probeAnswers,
            this.#options.liveness,
          );
    const link$ = linkState(driver.state$, alive$).pipe(
      tap((state) => {
        this.#state = state;
        link.setUp(state.up);
        if (!state.up) log.warn('Backplane link down', { reason: state.reason });
      }),
    );
    this.#pipeline = outageEvents(link$, Date.now).subscribe(emit);
  }

  stop(): void {
    this.#pipeline?.unsubscribe();
  }

  #sendProbe(id: number): void {
    const { link, publisher, inbox } = this.#options;
    publisher
      .publish(inbox, { kind: 'probe', id }, { publish: (c, p) => link.publishDirect(c, p) })
      .catch(() => {}); // a probe that cannot be sent simply never comes back
  }
}
