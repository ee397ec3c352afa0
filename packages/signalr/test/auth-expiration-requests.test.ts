import { waitFor } from '@backplane/testkit';
import * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { signJwt } from '../src/index.js';
import { RS } from './raw-client.js';
import { MATRIX } from './support/matrix.js';
import { connectClient, type Node, seen, startMemoryNodes, stopNode, WAIT_MS } from './two-nodes.js';

// A poll or a send of an open HTTP connection after its JWT expired is refused at once, as ASP.NET Core's
// per-request authentication refuses it, and the connection is closed. The once-a-second heartbeat that
// closes expired connections is held back here (its interval is faked), so only the request can close it.

/** 32 bytes: the shortest HS256 secret a HubServer accepts. */
const SECRET = 'auth-expiry-requests-secret-32-b';
const EXPIRED = 'Bearer error="invalid_token", error_description="Token expired."';

let node: Node;
beforeAll(async () => {
  [node] = (await startMemoryNodes(1, {
    jwtSecret: SECRET,
    jwtClockSkew: 0,
    closeOnAuthenticationExpiration: true,
  })) as [Node];
});
afterAll(() => stopNode(node));
afterEach(() => {
  vi.useRealTimers();
});

/**
 * A JWT expiring at a whole second 1.5 to 2.5 s from now (the setup before the expiry must fit in before it,
 * on a busy machine too), and that moment in Unix ms.
 */
function shortLivedToken(): { token: string; expiresAt: number } {
  const exp = Math.ceil((Date.now() + 1_500) / 1000);
  return { token: signJwt({ sub: 'ada', exp }, SECRET), expiresAt: exp * 1000 };
}

/** Resolves once the clock is past `at` (Unix ms). */
function until(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now()) + 5));
}

/** A long-polling connection opened by hand, handshaken: its transport URL. */
async function openLongPolling(token: string): Promise<string> {
  const headers = { Authorization: `Bearer ${token}` };
  const res = await fetch(`${node.url}/chat/negotiate?negotiateVersion=1`, { method: 'POST', headers });
  const { connectionToken } = (await res.json()) as { connectionToken: string };
  const target = `${node.url}/chat?id=${encodeURIComponent(connectionToken)}`;
  expect((await fetch(target, { headers })).status).toBe(200);
  await fetch(target, { method: 'POST', headers, body: `{"protocol":"json","version":1}${RS}` });
  expect(await (await fetch(target, { headers })).text()).toBe(`{}${RS}`);
  return target;
}

const invocation = `{"type":1,"invocationId":"1","target":"Mark","arguments":["after expiry"]}${RS}`;

describe('authentication expiry on HTTP requests', { timeout: 3_000 + 2 * WAIT_MS }, () => {
  it('closeOnAuthenticationExpiration - a send after the JWT expired gets 401 invalid_token and closes the connection (LongPolling, raw)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { token, expiresAt } = shortLivedToken();
    const target = await openLongPolling(token);
    const headers = { Authorization: `Bearer ${token}` };
    expect(node.manager.connectionCount).toBe(1);
    await until(expiresAt);
    const sent = await fetch(target, { method: 'POST', headers, body: invocation });
    expect({ status: sent.status, challenge: sent.headers.get('www-authenticate') }).toEqual({
      status: 401,
      challenge: EXPIRED,
    });
    await waitFor(() => node.manager.connectionCount === 0, {
      name: 'the connection to close',
      timeoutMs: WAIT_MS,
    });
    expect(seen.marks).not.toContain('after expiry'); // the method did not run
  });

  it('closeOnAuthenticationExpiration - a poll after the JWT expired gets 401 invalid_token and closes the connection (LongPolling, raw)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { token, expiresAt } = shortLivedToken();
    const target = await openLongPolling(token);
    await until(expiresAt);
    const poll = await fetch(target, { headers: { Authorization: `Bearer ${token}` } });
    expect({ status: poll.status, challenge: poll.headers.get('www-authenticate') }).toEqual({
      status: 401,
      challenge: EXPIRED,
    });
    await waitFor(() => node.manager.connectionCount === 0, {
      name: 'the connection to close',
      timeoutMs: WAIT_MS,
    });
  });

  // WebSockets have no request per send: their connections close on the heartbeat (auth-expiration.test.ts).
  for (const { transport, protocol } of MATRIX.filter((c) => c.transport !== 'WebSockets')) {
    it(`closeOnAuthenticationExpiration - the official client's call after the JWT expired fails and the connection closes with an error (${transport}, ${protocol})`, async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const { token, expiresAt } = shortLivedToken();
      const client = await connectClient(node.url, { transport, protocol, accessToken: token });
      try {
        const closed = new Promise<Error | undefined>((resolve) => client.onclose(resolve));
        await until(expiresAt);
        await expect(client.invoke('Mark', 'after expiry')).rejects.toThrow();
        const error = await Promise.race([
          closed,
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no close')), WAIT_MS)),
        ]);
        expect(error).toBeInstanceOf(Error);
        expect(seen.marks).not.toContain('after expiry');
        expect(client.state).toBe(signalR.HubConnectionState.Disconnected);
      } finally {
        await client.stop();
      }
    });
  }
});
