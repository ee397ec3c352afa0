import {
  type RedisClusterHandle,
  type RedisServerHandle,
  runConformanceSuite,
  startRedis,
  startRedisCluster,
} from '@backplane/testkit';
import { RedisDriver } from '../src/index.js';

runConformanceSuite('redis standalone', async () => {
  const redis: RedisServerHandle = await startRedis();
  return {
    createDriver: () => new RedisDriver({ url: redis.url }),
    teardown: () => redis.stop(),
  };
});

runConformanceSuite('redis cluster (sharded pub/sub)', async () => {
  const cluster: RedisClusterHandle = await startRedisCluster({ masters: 3 });
  return {
    createDriver: () => new RedisDriver({ cluster: [...cluster.startupNodes] }),
    teardown: () => cluster.stop(),
  };
});
