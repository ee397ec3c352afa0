// No import of `@opentelemetry/api` here, not even of types: this is public API, and an app without the
// optional peer dependency must still type-check against it.

/**
 * OpenTelemetry tracing (docs/operations.md#tracing). It goes through `@opentelemetry/api`, an optional
 * peer dependency loaded once when a manager, hub context or hub server is made: without it, or with
 * `tracing: false`, nothing is traced and nothing is added to a send.
 */
export interface TracingOptions {
  /**
   * The OpenTelemetry `TracerProvider` spans go to: give one to keep this component's spans apart from the
   * app's global provider (tests, a second pipeline). Needs `@opentelemetry/api` all the same
   * (`InvalidArgumentError` when it cannot be loaded).
   * @default the global provider of `@opentelemetry/api`, which the app's tracing SDK registers (a no-op
   * provider until it does; one registered later is picked up)
   */
  readonly tracerProvider?: { getTracer(name: string, version?: string): object };
}
