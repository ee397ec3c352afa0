import {
  type RedisClusterHandle,
  type RedisServerHandle,
  runConformanceSuite,
  startRedis,
  startRedisCluster,
} from '@backplane/testkit';
import { RedisTransport } from '../src/index.js';

runConformanceSuite('redis standalone', async () => {
  const redis: RedisServerHandle = await startRedis();
  return {
    createTransport: () => new RedisTransport({ url: redis.url }),
    teardown: () => redis.stop(),
  };
});

runConformanceSuite('redis cluster (sharded pub/sub)', async () => {
  const cluster: RedisClusterHandle = await startRedisCluster({ masters: 3 });
  return {
    createTransport: () => new RedisTransport({ cluster: [...cluster.startupNodes] }),
    teardown: () => cluster.stop(),
  };
});
