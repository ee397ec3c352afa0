import { waitFor } from '@backplane/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signJwt } from '../src/index.js';
import { RawSocket, RS, upgradeStatus } from './raw-client.js';
import { type Node, startMemoryNodes, stopNode, WAIT_MS } from './two-nodes.js';

/** 32 bytes: the shortest HS256 secret a HubServer accepts. */
const SECRET = 'token-forgery-test-secret-32-byt';

let secured: Node;
beforeAll(async () => {
  [secured] = (await startMemoryNodes(1, { jwtSecret: SECRET })) as [Node];
});
afterAll(async () => {
  if (secured) await stopNode(secured);
});

async function negotiate(url: string, query: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/chat/negotiate?negotiateVersion=1&${query}`, { method: 'POST', headers });
  return {
    status: res.status,
    token: res.status === 200 ? ((await res.json()) as { connectionToken: string }).connectionToken : '',
  };
}

/** A WebSocket connection opened with a negotiated token, handshaken with `version` (2: stateful). */
async function openStateful(url: string, token: string, accessToken?: string): Promise<RawSocket> {
  const auth = accessToken ? `&access_token=${accessToken}` : '';
  const socket = await RawSocket.open(url, `?id=${encodeURIComponent(token)}${auth}`);
  socket.send(`{"protocol":"json","version":2}${RS}`);
  expect(await socket.next()).toBe(`{}${RS}`);
  return socket;
}

/** Resumes a dropped stateful connection (retrying while the server has not seen the drop yet: 409). */
async function resume(url: string, token: string, accessToken?: string): Promise<RawSocket> {
  const auth = accessToken ? `&access_token=${accessToken}` : '';
  const socket = await waitFor(() => RawSocket.open(url, `?id=${encodeURIComponent(token)}${auth}`), {
    name: 'the resume to be accepted',
    timeoutMs: WAIT_MS,
  });
  expect(await socket.nextJson()).toEqual({ type: 9, sequenceId: 1 }); // Sequence: a resume, not a new connection
  return socket;
}

/** `token`'s signature on another body: what someone who saw only the signature could send. */
function withBodyOf(signatureOf: string, bodyOf: string): string {
  return `${bodyOf.slice(0, bodyOf.indexOf('.'))}.${signatureOf.slice(signatureOf.indexOf('.') + 1)}`;
}

describe('stateful reconnect resume', () => {
  it("resume - a token with the victim's signature on another body is refused (404); the victim still resumes", async () => {
    const ada = signJwt({ sub: 'ada' }, SECRET);
    const victim = await negotiate(secured.url, `useStatefulReconnect=true&access_token=${ada}`);
    const mallory = await negotiate(
      secured.url,
      `useStatefulReconnect=true&access_token=${signJwt({ sub: 'mallory' }, SECRET)}`,
    );
    const socket = await openStateful(secured.url, victim.token, ada);
    socket.ws.terminate(); // dropped without a close handshake: the server waits for a resume
    await socket.closed;

    const forged = withBodyOf(victim.token, mallory.token);
    expect(await upgradeStatus(`${secured.url}/chat?id=${encodeURIComponent(forged)}`)).toBe(404);
    const crafted = `${Buffer.from('{"h":"/chat","c":"x","e":1,"n":"n"}').toString('base64url')}.${victim.token.split('.')[1]}`;
    expect(await upgradeStatus(`${secured.url}/chat?id=${encodeURIComponent(crafted)}`)).toBe(404);

    const resumed = await resume(secured.url, victim.token, ada);
    resumed.close();
  });

  it("resume - a resume with another user's valid JWT is refused (401), as is an invalid JWT; the owner still resumes", async () => {
    const ada = signJwt({ sub: 'ada' }, SECRET);
    const eve = signJwt({ sub: 'eve' }, SECRET);
    const { token } = await negotiate(secured.url, `useStatefulReconnect=true&access_token=${ada}`);
    const socket = await openStateful(secured.url, token, ada);
    socket.ws.terminate();
    await socket.closed;

    const id = encodeURIComponent(token);
    expect(await upgradeStatus(`${secured.url}/chat?id=${id}&access_token=${eve}`)).toBe(401);
    expect(
      await upgradeStatus(
        `${secured.url}/chat?id=${id}&access_token=${signJwt({ sub: 'ada' }, 'x'.repeat(32))}`,
      ),
    ).toBe(401);

    const resumed = await resume(secured.url, token, ada);
    resumed.close();
  });
});

describe('connection token forgery', () => {
  it("connection tokens - the victim's signature on another body cannot poll, post to or delete a long-polling connection", async () => {
    const ada = signJwt({ sub: 'ada' }, SECRET);
    const victim = await negotiate(secured.url, `access_token=${ada}`);
    const mallory = await negotiate(secured.url, `access_token=${signJwt({ sub: 'mallory' }, SECRET)}`);
    const url = (token: string) => `${secured.url}/chat?id=${encodeURIComponent(token)}`;
    // The first poll opens it (with the access token; later polls and sends need the connection token only).
    expect((await fetch(url(victim.token), { headers: { Authorization: `Bearer ${ada}` } })).status).toBe(
      200,
    );
    const forged = url(withBodyOf(victim.token, mallory.token));
    expect(
      (await fetch(forged, { method: 'POST', body: `{"protocol":"json","version":1}${RS}` })).status,
    ).toBe(404);
    expect((await fetch(forged)).status).toBe(404);
    expect((await fetch(forged, { method: 'DELETE' })).status).toBe(404);
    // The victim's connection is untouched: its handshake is still the first thing it sends.
    expect(
      (await fetch(url(victim.token), { method: 'POST', body: `{"protocol":"json","version":1}${RS}` }))
        .status,
    ).toBe(200);
    expect(await (await fetch(url(victim.token))).text()).toBe(`{}${RS}`);
    expect((await fetch(url(victim.token), { method: 'DELETE' })).status).toBe(202);
  });

  it('token secret - two HubServers without tokenSecret reject each other’s connection tokens', async () => {
    const [a, b] = (await startMemoryNodes(2, { tokenSecret: undefined })) as [Node, Node];
    try {
      const fromA = await negotiate(a.url, '');
      const fromB = await negotiate(b.url, '');
      expect(await upgradeStatus(`${b.url}/chat?id=${encodeURIComponent(fromA.token)}`)).toBe(404);
      expect(await upgradeStatus(`${a.url}/chat?id=${encodeURIComponent(fromB.token)}`)).toBe(404);
      const own = await RawSocket.open(a.url, `?id=${encodeURIComponent(fromA.token)}`);
      own.close();
    } finally {
      await Promise.all([stopNode(a), stopNode(b)]);
    }
  });
});
