import { runConformanceSuite } from '@backplane/testkit';
import { MemoryBus, MemoryTransport } from '../src/index.js';

runConformanceSuite('memory', async () => {
  const bus = new MemoryBus();
  return {
    createTransport: () => new MemoryTransport({ bus }),
    teardown: async () => {},
  };
});
