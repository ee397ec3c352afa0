// Conformance suite (run against every driver)
export { runConformanceSuite } from './conformance-suite.js';
export type { DriverHarness, DriverSetup } from './driver-harness.js';

// Durable-mode suite (run against every durable driver)
export type { DurableHarness, DurableSuiteOptions } from './durable-suite.js';
export { runDurableSuite } from './durable-suite.js';

// Session store suite (run against every driver) and position order suite (every durable driver)
export type { SessionStoreHarness } from './session-store-suite.js';
export { runSessionStoreSuite } from './session-store-suite.js';
export type { PositionOrderSuiteOptions } from './position-order-suite.js';
export { runPositionOrderSuite } from './position-order-suite.js';

// Sessions suite (adoption across servers, run against every driver with a session store)
export type { SessionSuiteHarness, SessionSuiteOptions } from './session-suite.js';
export { runSessionSuite } from './session-suite.js';

// Driver contract suite (run against every driver)
export type { DriverSuiteHarness, DriverSuiteOptions } from './driver-suite.js';
export { runDriverSuite } from './driver-suite.js';

// Broker launchers (real servers on random free ports)
export { freePort, freePortPair, freePorts, isPortOpen } from './launchers/free-port.js';
export type {
  KafkaClusterBrokerHandle,
  KafkaClusterHandle,
  StartKafkaClusterOptions,
} from './launchers/kafka-cluster-launcher.js';
export { startKafkaCluster } from './launchers/kafka-cluster-launcher.js';
export type { KafkaBrokerHandle, StartKafkaOptions } from './launchers/kafka-launcher.js';
export { kafkaJars, startKafka } from './launchers/kafka-launcher.js';
export { ManagedProcess, requireBinary } from './launchers/managed-process.js';
export type {
  NatsClusterHandle,
  NatsClusterServerHandle,
  StartNatsClusterOptions,
} from './launchers/nats-cluster-launcher.js';
export { startNatsCluster } from './launchers/nats-cluster-launcher.js';
export type { NatsServerHandle } from './launchers/nats-launcher.js';
export { startNats } from './launchers/nats-launcher.js';
export type {
  RedisClusterHandle,
  RedisServerHandle,
  StartRedisClusterOptions,
  StartRedisOptions,
} from './launchers/redis-launcher.js';
export { startRedis, startRedisCluster } from './launchers/redis-launcher.js';
export type {
  RedisSentinelHandle,
  RedisSentinelNodeHandle,
  StartRedisSentinelOptions,
} from './launchers/redis-sentinel-launcher.js';
export { startRedisSentinel } from './launchers/redis-sentinel-launcher.js';
export type { ServerProcessHandle, ServerProcessOptions } from './launchers/server-process.js';
export { startServerProcess, tcpProbe } from './launchers/server-process.js';
export type { TcpProxy } from './launchers/tcp-proxy.js';
export { startTcpProxy } from './launchers/tcp-proxy.js';
export type { TopologyErrorCode } from './launchers/topology-error.js';
export { TopologyError } from './launchers/topology-error.js';

// A round-robin HTTP balancer without affinity (deployments without sticky sessions)
export type { RoundRobinBalancer } from './round-robin-balancer.js';
export { startRoundRobinBalancer } from './round-robin-balancer.js';

// Counting what a receiver saw of a numbered stream (fault tests)
export type { StreamTally } from './stream-tally.js';
export { tallyStream } from './stream-tally.js';

// Drivers with some methods replaced, the rest passed through (freezing or thinning a real driver)
export { overrideDriver } from './wrap-driver.js';

// Waiting on events (with a timeout, never a bare sleep) and a test client
export { nextEvent } from './next-event.js';
export type { TestClientOptions } from './test-client.js';
export { DEFAULT_TIMEOUT_MS, SETTLE_MS, TestClient } from './test-client.js';
export type { WaitForOptions } from './wait-for.js';
export { waitFor } from './wait-for.js';
