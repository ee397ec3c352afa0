import { runSessionSuite } from '@backplane/testkit';
import { MemoryBus, MemoryDriver } from '../src/index.js';

// The memory driver keeps no log: its sessions are adopted without a replay.
runSessionSuite('memory', async () => {
  const bus = new MemoryBus();
  return { createDriver: () => new MemoryDriver({ bus }), teardown: async () => {} };
});
