// Driver

export type { NatsTransportOptions } from './nats-transport.js';
export { createNatsTransport, NatsTransport } from './nats-transport.js';

// Subject mapping
export { channelToSubject } from './subjects.js';
