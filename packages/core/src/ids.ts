import { randomBytes } from 'node:crypto';

/**
 * Connection ids carry the id of the server that owns them: `{random}.{serverId}`, where `{random}` is
 * 22 base64url characters (no `.`). A send to a connection on another server is then one publish to that
 * server's inbox, with no registry and no per-connection subscription.
 */
export function createConnectionId(serverId: string): string {
  return `${randomBytes(16).toString('base64url')}.${serverId}`;
}

/** The owning server of a connection id minted by {@link createConnectionId}, or `undefined`. */
export function ownerOfConnection(connectionId: string): string | undefined {
  const dot = connectionId.indexOf('.');
  if (dot !== 22 || dot === connectionId.length - 1) return undefined;
  return connectionId.slice(dot + 1);
}

/** A client-result invocation id, unique across servers (22 base64url characters). */
export function createInvocationId(): string {
  return randomBytes(16).toString('base64url');
}

/** This server instance's random start id: distinguishes a restarted server from its previous life. */
export function createEpoch(): string {
  return randomBytes(8).toString('hex');
}

/** A node id for servers that were not given one: short, random, safe in channel names. */
export function createNodeId(): string {
  return `node-${randomBytes(4).toString('hex')}`;
}
