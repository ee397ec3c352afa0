import { Counter, Gauge, Histogram } from 'prom-client';
import type { MetricsRegistry } from './options.js';

/** Label values by label name. */
export type Labels = Record<string, string>;

/** A value per label set, read when scraped. */
export type Series = Iterable<readonly [Labels, number]>;

/**
 * The metrics one registration made in a registry, and the subscriptions feeding them: made in one place,
 * removed in one place (`close`).
 */
export class MetricSet {
  readonly #registry: MetricsRegistry;
  readonly #prefix: string;
  readonly #names: string[] = [];
  readonly #subscriptions: Array<{ unsubscribe(): void }> = [];

  constructor(registry: MetricsRegistry, prefix: string) {
    this.#registry = registry;
    this.#prefix = prefix;
  }

  /** A counter whose value is read when scraped. */
  readCounter(name: string, help: string, read: () => number): void {
    this.readCounters(name, help, [], () => [[{}, read()]]);
  }

  /** A counter with labels, its series read when scraped. */
  readCounters(name: string, help: string, labelNames: readonly string[], read: () => Series): void {
    this.#add(
      name,
      (full) =>
        new Counter({
          name: full,
          help,
          labelNames,
          registers: [this.#registry],
          collect() {
            this.reset();
            for (const [labels, value] of read()) this.inc(labels, value);
          },
        }),
    );
  }

  /** A gauge with labels (or none), its series read when scraped. */
  readGauges(name: string, help: string, labelNames: readonly string[], read: () => Series): void {
    this.#add(
      name,
      (full) =>
        new Gauge({
          name: full,
          help,
          labelNames,
          registers: [this.#registry],
          collect() {
            this.reset();
            for (const [labels, value] of read()) this.set(labels, value);
          },
        }),
    );
  }

  /** A counter incremented by the caller (from a measurement stream). */
  counter(name: string, help: string, labelNames: readonly string[]): Counter {
    return this.#add(
      name,
      (full) => new Counter({ name: full, help, labelNames, registers: [this.#registry] }),
    );
  }

  /** A histogram observed by the caller (from a measurement stream). */
  histogram(name: string, help: string, labelNames: readonly string[], buckets: number[]): Histogram {
    return this.#add(
      name,
      (full) => new Histogram({ name: full, help, labelNames, buckets, registers: [this.#registry] }),
    );
  }

  /** Keeps a subscription, ended by `close`. */
  feed(subscription: { unsubscribe(): void }): void {
    this.#subscriptions.push(subscription);
  }

  /** Ends the subscriptions and removes every metric from the registry. */
  close(): void {
    for (const subscription of this.#subscriptions.splice(0)) subscription.unsubscribe();
    for (const name of this.#names.splice(0)) this.#registry.removeSingleMetric(name);
  }

  /** Makes (and so registers) a metric; only one that was registered is removed by `close`. */
  #add<T>(name: string, make: (fullName: string) => T): T {
    const full = `${this.#prefix}${name}`;
    const metric = make(full);
    this.#names.push(full);
    return metric;
  }
}
