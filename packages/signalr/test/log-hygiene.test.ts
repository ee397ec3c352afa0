import { parseBinaryRecords } from '@backplane/hub-protocol';
import { waitFor } from '@backplane/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapturingLogger, RawSocket, RS } from './raw-client.js';
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

  it('log hygiene - a 31 KB MessagePack BigInt argument makes one bounded warning; a flood of them a bounded log', async () => {
    const c = await RawSocket.open(node.url);
    c.send(`{"protocol":"messagepack","version":1}${RS}`);
    expect(await c.next()).toBe(`{}${RS}`);
    const before = logger.loudSize;
    c.send(echoOfHugeBigInt('1'));
    expect((await c.next()).toString('latin1')).toContain('An unexpected error occurred invoking');
    const one = logger.loudSize - before;
    expect(one).toBeGreaterThan(0); // it is worth a warning: the hub method's result cannot be sent
    expect(one).toBeLessThan(4_096); // the unbounded warning was ~76 KB
    for (let i = 0; i < 100; i++) c.send(echoOfHugeBigInt(`flood-${i}`));
    // The answers of one event-loop iteration share a WebSocket message: count records, not frames.
    for (let records = 0; records < 100; ) records += parseBinaryRecords(toBytes(await c.next())).length;
    expect(logger.loudSize - before).toBeLessThan(64 * 1_024); // 100 × 76 KB unbounded
    c.close();
  }, 30_000); // 101 conversions of a 31 KB BigInt to text: seconds of CPU on a busy 2-core machine
});

function toBytes(frame: string | Buffer): Uint8Array {
  return typeof frame === 'string' ? Buffer.from(frame, 'latin1') : frame;
}

/**
 * A MessagePack Invocation of Echo whose argument is a 31 KB BigInt (ext type 0x42, big-endian two's
 * complement, which msgpackr reads as a bigint), length-prefixed.
 */
function echoOfHugeBigInt(invocationId: string): Uint8Array {
  const magnitude = Buffer.alloc(31_000, 0xff);
  magnitude[0] = 0x7f;
  const ext = Buffer.alloc(6);
  ext[0] = 0xc9; // ext 32
  ext.writeUInt32BE(magnitude.byteLength, 1);
  ext[5] = 0x42;
  const id = Buffer.from(invocationId);
  const body = Buffer.concat([
    Buffer.from([0x96, 0x01, 0x80, 0xa0 | id.byteLength]),
    id,
    Buffer.from([0xa4, ...Buffer.from('Echo'), 0x91]),
    ext,
    magnitude,
    Buffer.from([0x90]),
  ]);
  const prefix: number[] = [];
  for (let n = body.byteLength; ; n >>= 7) {
    if (n < 0x80) {
      prefix.push(n);
      break;
    }
    prefix.push((n & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from(prefix), body]);
}
