import type { ChannelTarget } from '../channels.js';
import type { Logger } from '../logger.js';
import type { MissedMessages } from '../manager-options.js';

export interface ReconcileBatcherOptions {
  /** This server's id: a gap on its inbox means messages to its connections were missed. */
  readonly serverId: string;
  /** See `HubLifetimeManagerOptions.reconcile`. */
  readonly reconcile: (missed: MissedMessages) => void | Promise<void>;
  /** See `HubLifetimeManagerOptions.reconcileWindow`, in ms. */
  readonly window: number;
  readonly log: Logger;
  /** Whether the manager is closed: a batch due after close is dropped. */
  readonly isClosed: () => boolean;
}

/**
 * Reconciliation batching: the targets of the gaps reported within one window are collected and handed
 * to `reconcile` in one call. Errors it throws are logged.
 */
export class ReconcileBatcher {
  readonly #options: ReconcileBatcherOptions;
  #missed: { all: boolean; groups: Set<string>; users: Set<string>; connections: boolean } | undefined;

  constructor(options: ReconcileBatcherOptions) {
    this.#options = options;
  }

  /** Collects gap targets for one batched `reconcile` call. */
  note(target: ChannelTarget | undefined): void {
    if (!target) return;
    if (!this.#missed) {
      this.#missed = { all: false, groups: new Set(), users: new Set(), connections: false };
      setTimeout(() => this.#flush(), this.#options.window).unref();
    }
    if (target.kind === 'all') this.#missed.all = true;
    else if (target.kind === 'group') this.#missed.groups.add(target.name);
    else if (target.kind === 'user') this.#missed.users.add(target.name);
    else if (target.name === this.#options.serverId) this.#missed.connections = true;
  }

  #flush(): void {
    const missed = this.#missed;
    this.#missed = undefined;
    if (!missed || this.#options.isClosed()) return;
    const report: MissedMessages = {
      all: missed.all,
      groups: [...missed.groups],
      users: [...missed.users],
      connections: missed.connections,
    };
    Promise.resolve()
      .then(() => this.#options.reconcile(report))
      .catch((error: unknown) => this.#options.log.error('reconcile failed', { error }));
  }
}
