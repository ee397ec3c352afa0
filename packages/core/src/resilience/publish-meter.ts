import type { Subject } from 'rxjs';
import type { Channels } from '../channels.js';
import type { BackplaneMeasurement } from '../measurements.js';

/**
 * Times the publish link's driver calls for `manager.measurements$`, only while something subscribes:
 * otherwise `start` reads no clock and `end` hands the driver's promise back untouched.
 */
export class PublishMeter {
  readonly #channels: Channels;
  readonly #sink: Subject<BackplaneMeasurement>;

  constructor(channels: Channels, sink: Subject<BackplaneMeasurement>) {
    this.#channels = channels;
    this.#sink = sink;
  }

  /** A clock reading, in ms, while something subscribes; `undefined` (nothing to measure) otherwise. */
  start(): number | undefined {
    return this.#sink.observed ? performance.now() : undefined;
  }

  /** `sent`, reporting its duration since `started` once it settles (as is when `started` is undefined). */
  end<T>(started: number | undefined, channel: string, durable: boolean, sent: Promise<T>): Promise<T> {
    if (started === undefined) return sent;
    const report = (ok: boolean): void =>
      this.#sink.next({
        type: 'publish',
        kind: this.#channels.kind(channel),
        durable,
        ok,
        durationMs: performance.now() - started,
      });
    return sent.then(
      (value) => {
        report(true);
        return value;
      },
      (error: unknown) => {
        report(false);
        throw error;
      },
    );
  }
}
