import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubServer, signJwt } from '../src/index.js';
import { type Node, startMemoryNodes, stopNode } from './two-nodes.js';

/** 32 bytes: the shortest HS256 secret a HubServer accepts. */
const SECRET = 'jwt-validation-test-secret-32-by';
const ISSUER = 'https://issuer.test';

let secured: Node;
let strict: Node;
beforeAll(async () => {
  [secured] = (await startMemoryNodes(1, { jwtSecret: SECRET })) as [Node];
  [strict] = (await startMemoryNodes(1, {
    jwtSecret: SECRET,
    jwtClockSkew: 0,
    jwtIssuer: ISSUER,
    jwtAudience: 'backplane',
  })) as [Node];
});
afterAll(async () => {
  await Promise.all([secured, strict].filter(Boolean).map(stopNode));
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

async function negotiate(url: string, query: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/chat/negotiate?negotiateVersion=1&${query}`, { method: 'POST', headers });
  return {
    status: res.status,
    token: res.status === 200 ? ((await res.json()) as { connectionToken: string }).connectionToken : '',
  };
}

describe('jwt validation', () => {
  it('jwt secret - HubServer refuses an HS256 secret under 32 bytes', () => {
    expect(() => new HubServer({ jwtSecret: 'short' })).toThrow('at least 32 bytes');
    expect(() => new HubServer({ jwtSecret: 'x'.repeat(31) })).toThrow('at least 32 bytes');
    expect(() => new HubServer({ jwtSecret: '' })).toThrow('at least 32 bytes');
    expect(() => new HubServer({ jwtSecret: SECRET })).not.toThrow();
  });

  it('jwt - negotiate refuses a token whose exp is not a number (it would never expire)', async () => {
    const stringExp = signJwt({ sub: 'ada', exp: '1' }, SECRET);
    expect((await negotiate(secured.url, `access_token=${stringExp}`)).status).toBe(401);
  });

  it('jwt - negotiate refuses a token with junk after its signature', async () => {
    const valid = signJwt({ sub: 'ada' }, SECRET);
    expect((await negotiate(secured.url, `access_token=${valid}`)).status).toBe(200);
    expect((await negotiate(secured.url, `access_token=${valid}~`)).status).toBe(401);
    expect((await negotiate(secured.url, '', { Authorization: `Bearer ${valid}$junk` })).status).toBe(401);
  });

  it('jwt - the Bearer scheme is accepted in any case', async () => {
    const valid = signJwt({ sub: 'ada' }, SECRET);
    for (const scheme of ['bearer', 'BEARER', 'Bearer'])
      expect((await negotiate(secured.url, '', { Authorization: `${scheme} ${valid}` })).status, scheme).toBe(
        200,
      );
  });

  it('jwt - jwtIssuer and jwtAudience refuse tokens from another issuer or for another audience', async () => {
    const exp = nowSeconds() + 3_600;
    const ok = signJwt({ sub: 'ada', exp, iss: ISSUER, aud: ['other', 'backplane'] }, SECRET);
    expect((await negotiate(strict.url, `access_token=${ok}`)).status).toBe(200);
    for (const claims of [
      { aud: 'backplane' },
      { iss: 'https://evil.test', aud: 'backplane' },
      { iss: ISSUER },
      { iss: ISSUER, aud: 'other' },
    ]) {
      const token = signJwt({ sub: 'ada', exp, ...claims }, SECRET);
      expect((await negotiate(strict.url, `access_token=${token}`)).status, JSON.stringify(claims)).toBe(401);
    }
  });

  it('jwt - jwtClockSkew sets the leeway on exp (0: a token one second past exp is refused)', async () => {
    const justExpired = signJwt({ sub: 'ada', exp: nowSeconds() - 1, iss: ISSUER, aud: 'backplane' }, SECRET);
    expect((await negotiate(secured.url, `access_token=${justExpired}`)).status).toBe(200); // 30 s default
    expect((await negotiate(strict.url, `access_token=${justExpired}`)).status).toBe(401);
  });
});
