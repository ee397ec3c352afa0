import type { Subject } from 'rxjs';
import type { HubMethod } from './hub-methods.js';

/**
 * How a hub method call ended:
 * - `ok`: the method returned (a stream: it ended);
 * - `error`: the method (or a filter around it) threw, or its result could not be sent;
 * - `unauthorized`: the hub's `methodAuthorization` refused the caller;
 * - `invalid`: refused before running: no such method, the wrong number of arguments or kind of
 *   invocation, arguments its schemas refuse, a stream id already in use;
 * - `canceled`: a stream the client canceled, or a call whose connection closed before it ran or while it
 *   streamed.
 */
export type InvocationOutcome = 'ok' | 'error' | 'unauthorized' | 'invalid' | 'canceled';

/** One hub method call a client made (`invoke`, `send` or `stream`), once it has ended. */
export interface InvocationMeasurement {
  /** What was measured: a hub method call. */
  readonly type: 'invocation';
  /** The hub's path (`/chat`), as mapped. */
  readonly hub: string;
  /**
   * The method's name as the hub class declares it; `undefined` when the hub has no such method (the name
   * the client sent is not reported: a client could send any).
   */
  readonly method: string | undefined;
  /** A stream invocation (`stream` on the client, an `async *` method). */
  readonly streaming: boolean;
  /** How the call ended (see {@link InvocationOutcome}). */
  readonly outcome: InvocationOutcome;
  /**
   * From when the call started to run (after waiting for its slot, see
   * `maximumParallelInvocationsPerClient`) to its completion, in milliseconds (fractional, from a
   * monotonic clock); a stream: until it ended. 0 for calls refused before running.
   */
  readonly durationMs: number;
}

/**
 * What `hubServer.measurements$` reports: one value per operation, for histograms. Made only while something
 * subscribes; with no subscriber nothing is timed and nothing is allocated for it.
 */
export type HubServerMeasurement = InvocationMeasurement;

/**
 * Times one hub's method calls for `hubServer.measurements$`, only while something subscribes: otherwise
 * `start` reads no clock and `end` does nothing.
 */
export class InvocationMeter {
  readonly #hub: string;
  readonly #sink: Subject<HubServerMeasurement>;

  constructor(hub: string, sink: Subject<HubServerMeasurement>) {
    this.#hub = hub;
    this.#sink = sink;
  }

  /** A clock reading, in ms, while something subscribes; `undefined` (nothing to measure) otherwise. */
  start(): number | undefined {
    return this.#sink.observed ? performance.now() : undefined;
  }

  /**
   * `call` (started at `started`), reporting how it ended once it settles; as is, with nothing added, when
   * `started` is undefined.
   */
  track(
    started: number | undefined,
    method: HubMethod,
    streaming: boolean,
    call: Promise<InvocationOutcome>,
  ): Promise<unknown> {
    if (started === undefined) return call;
    return call.then((outcome) => this.#report(method, streaming, outcome, performance.now() - started));
  }

  /** Reports a call refused before it ran (`invalid`). */
  refused(method: HubMethod | undefined, streaming: boolean): void {
    if (this.#sink.observed) this.#report(method, streaming, 'invalid', 0);
  }

  #report(
    method: HubMethod | undefined,
    streaming: boolean,
    outcome: InvocationOutcome,
    durationMs: number,
  ): void {
    if (!this.#sink.observed) return;
    this.#sink.next({
      type: 'invocation',
      hub: this.#hub,
      method: method?.name,
      streaming,
      outcome,
      durationMs,
    });
  }
}
