// Server
export type { HubServerOptions } from './hub-server.js';
export type { ConnectionHandlerOptions, HubOptions, TransportOptions } from './hub-options.js';
export { HubServer } from './hub-server.js';
export type { HubServerStats } from './hub-server-stats.js';

// Hubs
export type { HubCallerContext, HubClass } from './hub.js';
export type { HubHttpContext } from './http-request.js';
export type { TransportKind } from './hub-connection-context.js';
export { Hub } from './hub.js';
export type {
  ClientProxy,
  GroupManager,
  HubCallerClients,
  HubClients,
  HubContextClients,
  SingleClientProxy,
} from './hub-clients.js';

// Connection handlers (raw connections)
export type { ConnectionHandler, RawConnection, RawMessage } from './raw-connection.js';

// Auth
export type { Claims, JwtValidation } from './jwt.js';
export { signJwt, verifyJwt } from './jwt.js';

// Errors
export {
  ClientStreamError,
  ConnectionTokenError,
  ShuttingDownError,
  SlowConsumerError,
  UnauthorizedError,
} from './errors.js';
