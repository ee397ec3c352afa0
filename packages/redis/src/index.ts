// Driver
export type { RedisSentinelOptions, RedisTransportOptions } from './redis-transport.js';
export { createRedisTransport, RedisTransport } from './redis-transport.js';

// URL forms
export type { ParsedRedisUrl, RedisEndpoint } from './redis-url.js';
export { parseRedisUrl, redactRedisUrl } from './redis-url.js';
