// Driver
export type { MemoryTransportOptions } from './memory-transport.js';
export { createMemoryTransport, MemoryTransport } from './memory-transport.js';

// Bus (the in-process message bus that managers in one process share)
export type { BusSubscriber } from './memory-bus.js';
export { getDefaultBus, MemoryBus } from './memory-bus.js';
