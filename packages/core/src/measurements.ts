import type { ChannelKind } from './channels.js';

/**
 * One publish to the broker, timed from the driver call to the broker's reply (or the driver's failure).
 * Each attempt is one measurement: a publish the outbox retries after a failure is measured again.
 * Liveness probes are not measured.
 */
export interface PublishMeasurement {
  /** What was measured: a publish. */
  readonly type: 'publish';
  /** The kind of channel it went to (never its name). */
  readonly kind: ChannelKind;
  /** Appended to the channel's durable log too (durable mode's invocations). */
  readonly durable: boolean;
  /** Whether the broker took it. */
  readonly ok: boolean;
  /** How long the driver took, in milliseconds (fractional, from a monotonic clock). */
  readonly durationMs: number;
}

/**
 * What `manager.measurements$` reports: one value per operation, for histograms. Made only while something
 * subscribes; with no subscriber nothing is timed and nothing is allocated for it.
 */
export type BackplaneMeasurement = PublishMeasurement;
