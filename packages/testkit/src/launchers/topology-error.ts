/** Why a replicated topology failed: it never became ready, or a question about it has no answer. */
export type TopologyErrorCode =
  | 'ERR_TOPOLOGY_NOT_READY'
  | 'ERR_TOPOLOGY_UNKNOWN_NODE'
  | 'ERR_TOPOLOGY_NO_ANSWER';

/** Thrown by the replicated-topology launchers (Sentinel, Redis Cluster, NATS cluster, Kafka cluster). */
export class TopologyError extends Error {
  readonly code: TopologyErrorCode;
  constructor(code: TopologyErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
