// Server

export { UnauthorizedError } from './errors.js';
export type { HubCallerContext, HubClass } from './hub.js';

// Hubs
export { Hub } from './hub.js';
export type {
  ClientProxy,
  GroupManager,
  HubCallerClients,
  HubClients,
  SingleClientProxy,
} from './hub-clients.js';
export type { HubServerOptions } from './hub-server.js';
export { HubServer } from './hub-server.js';
export type { Claims } from './jwt.js';
// Auth
export { signJwt, verifyJwt } from './jwt.js';
