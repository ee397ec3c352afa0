import { randomBytes } from 'node:crypto';

/**
 * Connection ids carry the id of the server that owns them: `{random}.{serverId}`, where `{random}` is
 * 22 base64url characters (no `.`). A send to a connection on another server is then one publish to that
 * server's inbox, with no registry and no per-connection subscription.
 */
export function createConnectionId(serverId: string): string {
  return `${randomBytes(16).toString('base64url')}.${serverId}`;
}

/**
 * The longest server id, in UTF-16 code units: `{nodeId}-{8 hex}` with a node id of at most 247. It
 * becomes part of a channel name (`server:{serverId}`), so a forged connection id must not bring a longer
 * one to the broker.
 */
export const MAX_SERVER_ID_LENGTH = 256;
/** The longest node id: {@link MAX_SERVER_ID_LENGTH} minus the `-{8 hex}` epoch suffix. */
export const MAX_NODE_ID_LENGTH = MAX_SERVER_ID_LENGTH - 9;

/**
 * The owning server of a connection id minted by {@link createConnectionId}, or `undefined` (also for a
 * server part longer than {@link MAX_SERVER_ID_LENGTH}, which no server has).
 */
export function ownerOfConnection(connectionId: string): string | undefined {
  const dot = connectionId.indexOf('.');
  if (dot !== 22 || dot === connectionId.length - 1) return undefined;
  if (connectionId.length - 23 > MAX_SERVER_ID_LENGTH) return undefined;
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
