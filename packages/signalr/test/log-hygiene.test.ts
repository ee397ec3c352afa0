import { waitFor } from '@backplane/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapturingLogger, RS } from './raw-client.js';
import { type Node, startMemoryNodes, stopNode, WAIT_MS } from './two-nodes.js';

const ACCESS_TOKEN = 'access-token-that-must-never-be-logged';
const logger = new CapturingLogger();
let node: Node;

beforeAll(async () => {
  [node] = (await startMemoryNodes(1, { logger })) as [Node];
});
afterAll(async () => {
  if (node) await stopNode(node);
});

/** A long-polling connection, handshaken with JSON; resolves with its connection token. */
async function longPolling(): Promise<string> {
  const negotiate = await fetch(
    `${node.url}/chat/negotiate?negotiateVersion=1&access_token=${ACCESS_TOKEN}`,
    {
      method: 'POST',
    },
  );
  const token = ((await negotiate.json()) as { connectionToken: string }).connectionToken;
  const query = `?id=${encodeURIComponent(token)}&access_token=${ACCESS_TOKEN}`;
  expect((await fetch(`${node.url}/chat${query}`)).status).toBe(200);
  await fetch(`${node.url}/chat${query}`, { method: 'POST', body: `{"protocol":"json","version":1}${RS}` });
  expect(await (await fetch(`${node.url}/chat${query}`)).text()).toBe(`{}${RS}`);
  return token;
}

describe('log hygiene', () => {
  it('log hygiene - a long-polling POST aborted mid-body logs no token, and not as an error', async () => {
    const token = await longPolling();
    const before = logger.lines.length;
    const { connect } = await import('node:net');
    const { hostname, port } = new URL(node.url);
    const socket = connect(Number(port), hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    const continued = new Promise((resolve) => socket.once('data', resolve));
    socket.write(
      `POST /chat?id=${encodeURIComponent(token)}&access_token=${ACCESS_TOKEN} HTTP/1.1\r\nHost: x\r\n` +
        'Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n',
    );
    await continued; // "100 Continue": the hub server is reading the body
    socket.write('{"type":1,"target":"Ec');
    socket.destroy();
    await waitFor(() => logger.lines.length > before, {
      name: 'a log line about the abort',
      timeoutMs: WAIT_MS,
    });
    const written = logger.lines.map((l) => `${l.message} ${l.fields}`).join('\n');
    expect(written).not.toContain(ACCESS_TOKEN);
    expect(written).not.toContain(token);
    expect(written).not.toContain(encodeURIComponent(token));
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});
