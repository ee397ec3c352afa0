import type { Driver } from '@backplane/core';

/** What a driver gives the conformance suite: drivers on one shared backplane under test. */
export interface DriverHarness {
  /** A new, unconnected driver on the shared backplane; each simulates one server's link. */
  createDriver(): Driver;
  /** Stops whatever the setup started (brokers, buses). */
  teardown(): Promise<void>;
}

/** Called once before a driver's suite runs. */
export type DriverSetup = () => Promise<DriverHarness>;
