// Conformance suite (run against every driver)
export { runConformanceSuite } from './conformance-suite.js';
export type { DriverHarness, DriverSetup } from './driver-harness.js';
export type { TestClientOptions } from './test-client.js';
export { DEFAULT_TIMEOUT_MS, SETTLE_MS, TestClient } from './test-client.js';

// Broker launchers (real servers on random free ports)
