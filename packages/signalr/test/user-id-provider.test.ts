import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signJwt } from '../src/index.js';
import { connectClient, type Node, nextCall, startMemoryNodes, stopNode } from './two-nodes.js';

/** 32 bytes: the shortest HS256 secret a HubServer accepts. */
const SECRET = 'user-id-provider-test-secret-32b';

let nodes: Node[];
beforeAll(async () => {
  // The user id is the JWT's `email` claim instead of `sub` (ASP.NET Core's IUserIdProvider).
  nodes = await startMemoryNodes(2, {
    jwtSecret: SECRET,
    userIdProvider: (claims) => (typeof claims.email === 'string' ? claims.email : undefined),
  });
});
afterAll(async () => {
  await Promise.all(nodes.map(stopNode));
});

describe('user id provider', () => {
  it('auth - userIdProvider names the user: a send to that user reaches it on another node', async () => {
    const [east, west] = nodes as [Node, Node];
    const jwt = (sub: string, email: string) =>
      signJwt({ sub, email, exp: Math.floor(Date.now() / 1000) + 300 }, SECRET);
    const ada = await connectClient(east.url, {
      transport: 'WebSockets',
      protocol: 'json',
      accessToken: jwt('u-1', 'ada@example.com'),
    });
    const bob = await connectClient(west.url, {
      transport: 'WebSockets',
      protocol: 'json',
      accessToken: jwt('u-2', 'bob@example.com'),
    });
    try {
      const got = nextCall(ada, 'ReceiveMessage');
      await bob.invoke('SendToUser', 'ada@example.com', 'bob', 'hi');
      expect(await got).toEqual(['bob', 'hi']);
    } finally {
      await Promise.all([ada.stop(), bob.stop()]);
    }
  });
});
