import type * as signalR from '@microsoft/signalr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionTokens } from '../src/connection-token.js';
import { signJwt } from '../src/index.js';
import { MATRIX } from './support/matrix.js';
import { connectClient, type Node, startMemoryNodes, stopNode, WAIT_MS } from './two-nodes.js';

/** 32 bytes: the shortest HS256 secret a HubServer accepts. */
const SECRET = 'auth-expiration-test-secret-32-b';
/** The connection token secret `startNode` gives every node. */
const TOKEN_SECRET = 'shared-test-secret';
/** How far ahead the short-lived JWT expires, in seconds (`exp` is whole seconds: 1 to 2 s from now). */
const SHORT_LIFE_S = 2;

/** jwtClockSkew 0, closeOnAuthenticationExpiration. */
let closing: Node;
/** jwtClockSkew 0, closeOnAuthenticationExpiration left at its default. */
let lenient: Node;
/** Every JWT option at its default. */
let defaults: Node;
beforeAll(async () => {
  [[closing], [lenient], [defaults]] = (await Promise.all([
    startMemoryNodes(1, { jwtSecret: SECRET, jwtClockSkew: 0, closeOnAuthenticationExpiration: true }),
    startMemoryNodes(1, { jwtSecret: SECRET, jwtClockSkew: 0 }),
    startMemoryNodes(1, { jwtSecret: SECRET }),
  ])) as [[Node], [Node], [Node]];
});
afterAll(async () => {
  await Promise.all([closing, lenient, defaults].filter(Boolean).map(stopNode));
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The expiry of the connection token negotiate issues for `jwt`, in Unix ms. */
async function connectionTokenExpiry(node: Node, jwt: string): Promise<number | undefined> {
  const res = await fetch(`${node.url}/chat/negotiate?negotiateVersion=1`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${jwt}` },
  });
  const { connectionToken } = (await res.json()) as { connectionToken: string };
  return new ConnectionTokens(TOKEN_SECRET).read(connectionToken)?.expiresAt;
}

function withTimeout<T>(promise: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${name} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('authentication expiry', () => {
  it('negotiate - the connection token expires when the JWT does (exp plus the leeway), not after the TTL', async () => {
    const exp = nowSeconds() + 60; // well inside the 5-minute TTL
    const jwt = signJwt({ sub: 'ada', exp }, SECRET);
    expect(await connectionTokenExpiry(lenient, jwt)).toBe(exp * 1_000);
    expect(await connectionTokenExpiry(defaults, jwt)).toBe((exp + 30) * 1_000);
    // Without exp the TTL alone bounds it.
    const before = Date.now();
    const ttlBound = await connectionTokenExpiry(defaults, signJwt({ sub: 'ada' }, SECRET));
    expect(ttlBound).toBeGreaterThanOrEqual(before + 300_000);
  });

  it('closeOnAuthenticationExpiration - a connection is closed with an error when its JWT expires and does not reconnect, on every transport and hub protocol (official client)', {
    timeout: SHORT_LIFE_S * 1_000 + 2 * WAIT_MS,
  }, async () => {
    const exp = nowSeconds() + SHORT_LIFE_S;
    const accessToken = signJwt({ sub: 'ada', exp }, SECRET);
    const clients: signalR.HubConnection[] = [];
    try {
      const reconnecting: string[] = [];
      const closes: Array<Promise<Error | undefined>> = [];
      for (const { transport, protocol } of MATRIX) {
        const client = await connectClient(closing.url, {
          transport,
          protocol,
          accessToken,
          configure: (builder) => builder.withAutomaticReconnect([0, 0, 0]),
        });
        clients.push(client);
        client.onreconnecting(() => reconnecting.push(`${transport} ${protocol}`));
        closes.push(new Promise((resolve) => client.onclose(resolve)));
      }
      const survivor = await connectClient(lenient.url, {
        transport: 'WebSockets',
        protocol: 'json',
        accessToken,
      });
      clients.push(survivor);

      const errors = await withTimeout(Promise.all(closes), SHORT_LIFE_S * 1_000 + WAIT_MS, 'closed events');
      for (const error of errors) expect(error?.message).toContain('Connection closed with an error.');
      expect(Date.now()).toBeGreaterThan(exp * 1_000); // not before the token expired
      expect(reconnecting).toEqual([]);
      // Off by default: the same token's connection on a node without the option lives on.
      expect(await survivor.invoke('Echo', 'alive')).toBe('alive');
    } finally {
      await Promise.all(clients.map((c) => c.stop()));
    }
  });
});
