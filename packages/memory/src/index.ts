// Driver

export type { BusSubscriber } from './memory-bus.js';
// Bus
export { getDefaultBus, MemoryBus } from './memory-bus.js';
export type { MemoryTransportOptions } from './memory-transport.js';
export { createMemoryTransport, MemoryTransport } from './memory-transport.js';
