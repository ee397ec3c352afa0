// Server
export type { HubServerOptions } from './hub-server.js';
export type { ConnectionHandlerOptions, HubOptions, TransportOptions } from './hub-options.js';
export { HubServer } from './hub-server.js';
export type { ConnectionStats, HubServerStats } from './hub-server-stats.js';
export type {
  HubServerMeasurement,
  InvocationMeasurement,
  InvocationOutcome,
} from './invocation-meter.js';

// Hubs
export type { HubCallerContext, HubClass } from './hub.js';
export type { HubFilter, HubInvocationContext, HubLifetimeContext } from './hub-filter.js';
export type {
  ArgumentSchemas,
  MethodSchemas,
  StandardSchemaIssue,
  StandardSchemaResult,
  StandardSchemaV1,
} from './standard-schema.js';
export type { HubHttpContext } from './http-request.js';
export type { TransportKind } from './transport-sender.js';
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
export type {
  AuthorizationContext,
  AuthorizationPolicy,
  AuthorizationRule,
  MethodAuthorization,
} from './authorization.js';
export type { Claims, JwtValidation } from './jwt.js';
export { signJwt, verifyJwt } from './jwt.js';

// Errors
export {
  ClientStreamError,
  ConnectionTokenError,
  ForbiddenError,
  ShuttingDownError,
  SlowConsumerError,
  UnauthorizedError,
} from './errors.js';
