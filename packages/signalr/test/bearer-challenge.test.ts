import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { signJwt } from '../src/index.js';
import { MATRIX, skipUnsupportedCombinations } from './support/matrix.js';
import { connectClient, type Node, startMemoryNodes, stopNode } from './two-nodes.js';

/** 32 bytes: the shortest HS256 secret a HubServer accepts. */
const SECRET = 'bearer-challenge-test-secret-32b';
const ada = signJwt({ sub: 'ada' }, SECRET);
const forged = signJwt({ sub: 'ada' }, 'another-secret-of-at-least-32-by');
const expired = signJwt({ sub: 'ada', exp: Math.floor(Date.now() / 1000) - 3_600 }, SECRET);

let secured: Node;
beforeAll(async () => {
  [secured] = (await startMemoryNodes(1, { jwtSecret: SECRET })) as [Node];
});
afterAll(async () => {
  if (secured) await stopNode(secured);
});

interface Refusal {
  status: number;
  challenge: string | null;
  body: string;
}

async function negotiate(
  headers: Record<string, string> = {},
  query = '',
): Promise<Refusal & { token: string }> {
  const res = await fetch(`${secured.url}/chat/negotiate?negotiateVersion=1${query}`, {
    method: 'POST',
    headers,
  });
  const body = await res.text();
  return {
    status: res.status,
    challenge: res.headers.get('www-authenticate'),
    body: res.status === 200 ? '' : body,
    token: res.status === 200 ? (JSON.parse(body) as { connectionToken: string }).connectionToken : '',
  };
}

async function get(query: string, headers: Record<string, string> = {}): Promise<Refusal> {
  const res = await fetch(`${secured.url}/chat${query}`, { headers });
  const streaming = res.status === 200 && headers.Accept === 'text/event-stream';
  const body = streaming ? '' : await res.text();
  if (streaming) await res.body?.cancel();
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body };
}

/** The status, challenge and body a WebSocket upgrade is refused with. */
function upgrade(query: string): Promise<Refusal> {
  const ws = new WebSocket(`${secured.url.replace('http', 'ws')}/chat${query}`);
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          challenge: (res.headers['www-authenticate'] as string | undefined) ?? null,
          body,
        });
        ws.terminate();
      });
    });
    ws.once('open', () => {
      ws.close();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('error', () => {});
  });
}

const NO_TOKEN = { status: 401, challenge: 'Bearer', body: '' };
const invalid = (description: string) => ({
  status: 401,
  challenge: `Bearer error="invalid_token", error_description="${description}"`,
  body: '',
});

describe('bearer challenge', () => {
  it('bearer challenge - negotiate without a token: 401, empty body, WWW-Authenticate: Bearer', async () => {
    const { token: _, ...refusal } = await negotiate();
    expect(refusal).toEqual(NO_TOKEN);
  });

  it('bearer challenge - negotiate with a refused token says invalid_token and why', async () => {
    const bad = await negotiate({ Authorization: `Bearer ${forged}` });
    expect({ status: bad.status, challenge: bad.challenge, body: bad.body }).toEqual(
      invalid('Invalid token signature.'),
    );
    const old = await negotiate({}, `&access_token=${expired}`);
    expect({ status: old.status, challenge: old.challenge, body: old.body }).toEqual(
      invalid('Token expired.'),
    );
  });

  it('bearer challenge - opening a transport needs the token too (WebSockets, Server-Sent Events, long polling)', async () => {
    const id = (await negotiate({ Authorization: `Bearer ${ada}` })).token;
    const q = `?id=${encodeURIComponent(id)}`;
    expect(await upgrade(q)).toEqual(NO_TOKEN);
    expect(await get(q, { Accept: 'text/event-stream' })).toEqual(NO_TOKEN);
    expect(await get(q)).toEqual(NO_TOKEN);
    expect(await upgrade(`${q}&access_token=${forged}`)).toEqual(invalid('Invalid token signature.'));
    expect(await get(`${q}&access_token=${expired}`, { Accept: 'text/event-stream' })).toEqual(
      invalid('Token expired.'),
    );
    expect(await get(q, { Authorization: `Bearer ${forged}` })).toEqual(invalid('Invalid token signature.'));
    // Another user's valid token: invalid for this connection.
    expect(await upgrade(`${q}&access_token=${signJwt({ sub: 'eve' }, SECRET)}`)).toEqual(
      invalid('The access token does not match the connection.'),
    );
    // With its token the same connection token still opens the connection.
    expect((await get(q, { Authorization: `Bearer ${ada}` })).status).toBe(200);
  });

  it('bearer challenge - a WebSocket without negotiate and without a token', async () => {
    expect(await upgrade('')).toEqual(NO_TOKEN);
    expect(await upgrade(`?access_token=${forged}`)).toEqual(invalid('Invalid token signature.'));
  });

  for (const { transport, protocol } of MATRIX) {
    it(`bearer challenge - the official client reports Unauthorized, with no token or a bad one (${transport}, ${protocol})`, async () => {
      for (const accessToken of [undefined, forged]) {
        const started = connectClient(secured.url, { transport, protocol, accessToken });
        const error = (await started.then(
          () => {
            throw new Error('connected without a valid token');
          },
          (e: unknown) => e,
        )) as Error;
        // The client shows the status text of an empty 401, as with ASP.NET Core.
        expect(error.message).toBe(
          "Failed to complete negotiation with the server: Error: Unauthorized: Status code '401'",
        );
      }
    });
  }
});

describe('bearer challenge - skipped', () => skipUnsupportedCombinations('bearer challenge'));
