// Driver
export type { NatsTransportOptions } from './nats-transport.js';
export { createNatsTransport, NatsTransport } from './nats-transport.js';
export type { NatsDurableOptions } from './jetstream-log.js';

// Subject mapping
export { channelToSubject, MAX_LITERAL_TOKEN, subjectToChannel } from './subjects.js';
