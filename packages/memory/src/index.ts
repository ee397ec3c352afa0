// Driver
export type { MemoryDriverOptions } from './memory-driver.js';
export { createMemoryDriver, MemoryDriver } from './memory-driver.js';

// Bus (the in-process message bus that managers in one process share)
export type { BusSubscriber } from './memory-bus.js';
export { getDefaultBus, MemoryBus } from './memory-bus.js';
