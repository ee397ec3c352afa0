// Driver

export type { RedisTransportOptions } from './redis-transport.js';
export { createRedisTransport, RedisTransport } from './redis-transport.js';
