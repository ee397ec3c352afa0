// Driver
export type { NatsDriverOptions } from './nats-driver.js';
export { createNatsDriver, NatsDriver } from './nats-driver.js';
export type { NatsDurableOptions } from './jetstream-log.js';
export type { NatsSessionStoreOptions } from './session-bucket.js';

// Subject mapping
export { channelToSubject, MAX_LITERAL_TOKEN, subjectToChannel } from './subjects.js';
