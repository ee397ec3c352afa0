// Driver
export type { RedisSentinelOptions, RedisDriverOptions } from './redis-driver.js';
export { createRedisDriver, RedisDriver } from './redis-driver.js';

// URL forms
export type { ParsedRedisUrl, RedisEndpoint, RedisUrlCommon } from './redis-url.js';
export { parseRedisUrl, redactRedisUrl } from './redis-url.js';
