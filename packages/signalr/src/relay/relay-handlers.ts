import type { HubLifetimeManager } from '@backplane/core';
import { ownerOfConnection } from '@backplane/core/internal';
import {
  decodeForwardedRequest,
  encodeForwardedAnswer,
  type ForwardedAnswer,
  type ForwardedRequest,
} from './forwarded-http.js';
import type { RelayLink } from './transport-relay.js';

/** What answers forwarded requests for one mapped path (a hub endpoint). */
export interface ForwardedRequestTarget {
  answerForwarded(request: ForwardedRequest, signal: AbortSignal): Promise<ForwardedAnswer>;
}

/** The endpoints answering forwarded requests, by manager and path (a manager may serve several paths). */
const targets = new WeakMap<HubLifetimeManager, Map<string, ForwardedRequestTarget>>();

/**
 * Makes `target` answer the transport requests other nodes forward for its connections on `path`, and
 * returns how this node forwards its own requests through `manager`.
 */
export function relayThroughManager(
  manager: HubLifetimeManager,
  path: string,
  target: ForwardedRequestTarget,
): RelayLink {
  let byPath = targets.get(manager);
  if (!byPath) {
    const paths = new Map<string, ForwardedRequestTarget>();
    byPath = paths;
    targets.set(manager, paths);
    manager.setRequestHandler(async ({ payload, signal }) => {
      const request = decodeForwardedRequest(payload);
      if (!request) return encodeForwardedAnswer(badRequest());
      const endpoint = paths.get(request.path);
      return endpoint ? encodeForwardedAnswer(await endpoint.answerForwarded(request, signal)) : undefined;
    });
  }
  byPath.set(path, target);
  return {
    isRemote: (connectionId) => {
      const owner = ownerOfConnection(connectionId);
      return owner !== undefined && owner !== manager.serverId;
    },
    request: (connectionId, payload, timeout) => manager.request(connectionId, payload, { timeout }),
  };
}

function badRequest(): ForwardedAnswer {
  return {
    status: 400,
    headers: { 'Content-Type': 'text/plain' },
    body: Buffer.from('Bad forwarded request.'),
  };
}
