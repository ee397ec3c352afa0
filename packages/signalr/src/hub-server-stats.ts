/** Counters of one `HubServer`, all its hubs together, since it was made. */
export interface HubServerStats {
  /**
   * Connections closed because more than `transportMaxBufferSize` bytes were waiting to be sent to them (a
   * client that stopped reading).
   */
  slowConsumerCloses: number;
  /**
   * Times a connection stopped reading from its client because `maximumQueuedInvocationsPerClient` calls
   * were waiting (backpressure: it reads again once half of them have run) or a client-to-server stream
   * held `streamBufferCapacity` items (it reads again once the method has read half of them), or a
   * connection handler had `applicationMaxBufferSize` bytes unread (it reads again once it has read half).
   */
  receivePauses: number;
  /**
   * Messages written to hub clients: WebSocket messages, Server-Sent Events, long-poll answers. Hub
   * messages queued for one connection during one event-loop iteration leave as one. (Connection handlers'
   * messages are not counted.)
   */
  framesSent: number;
  /** Hub messages (records) in those; `recordsSent / framesSent` is the batch factor. */
  recordsSent: number;
}

export function createHubServerStats(): HubServerStats {
  return { slowConsumerCloses: 0, receivePauses: 0, framesSent: 0, recordsSent: 0 };
}
