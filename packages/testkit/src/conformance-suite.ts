import { afterAll, afterEach, beforeAll, beforeEach, describe } from 'vitest';
import { backplaneCases } from './cases-backplane.js';
import { presenceCases } from './cases-presence.js';
import { requestCases } from './cases-requests.js';
import { scaleOutCases } from './cases-scale-out.js';
import { singleServerCases } from './cases-single-server.js';
import type { DriverSetup } from './driver-harness.js';
import { SuiteState } from './suite-context.js';

/**
 * The conformance suite every driver runs: SignalR's 12 single-server and 23 scale-out lifetime-manager
 * cases, translated with the same assertions, plus backplane's own guarantees, presence across servers
 * and requests about connections.
 * @param setup starts what the driver needs (a broker, a bus) once for the whole suite.
 */
export function runConformanceSuite(driverName: string, setup: DriverSetup): void {
  describe(`conformance (${driverName})`, () => {
    const state = new SuiteState();
    beforeAll(async () => {
      state.harness = await setup();
    }, 120_000);
    afterAll(async () => {
      await state.harness?.teardown();
    }, 60_000);
    beforeEach(() => state.nextTest());
    afterEach(() => state.closeAll());

    singleServerCases(state);
    scaleOutCases(state);
    backplaneCases(state);
    presenceCases(state);
    requestCases(state);
  });
}
