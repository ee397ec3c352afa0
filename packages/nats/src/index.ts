// Driver
export { NatsTransport, createNatsTransport } from './nats-transport.js';
export type { NatsTransportOptions } from './nats-transport.js';

// Subject mapping
export { channelToSubject } from './subjects.js';
