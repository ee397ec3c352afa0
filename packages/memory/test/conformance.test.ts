import { runConformanceSuite } from '@backplane/testkit';
import { MemoryBus, MemoryDriver } from '../src/index.js';

runConformanceSuite('memory', async () => {
  const bus = new MemoryBus();
  return {
    createDriver: () => new MemoryDriver({ bus }),
    teardown: async () => {},
  };
});
