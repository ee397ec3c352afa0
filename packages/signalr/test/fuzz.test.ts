import { connect } from 'node:net';
import { waitFor } from '@backplane/testkit';
import type * as signalR from '@microsoft/signalr';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { RS, trapProcessErrors } from './raw-client.js';
import { connectClient, type Node, nextCall, startMemoryNodes, stopNode, WAIT_MS } from './two-nodes.js';

/**
 * Property-based fuzzing of a live server: raw request lines and headers, negotiate and transport requests,
 * WebSocket upgrades and handshakes, JSON and MessagePack hub frames over WebSockets and long polling.
 * After every batch the process must have seen no uncaught error, and a bystander official client,
 * connected before the fuzzing, must still receive a broadcast. Each batch runs `RUNS` cases at most and
 * stops after `BATCH_MS` (fast-check's time limit), so the file stays within about a minute on a slow box;
 * a failure prints fast-check's seed and counterexample.
 */
const BATCH_MS = 8_000;
/** How long one case may take to be answered or closed before it counts as a hang. */
const CASE_MS = 5_000;
const RUNS = {
  raw: 5_000,
  transports: 2_000,
  upgrades: 2_500,
  handshakes: 2_000,
  frames: 4_000,
  polling: 800,
};

let node: Node;
let wsBase: string;
let bystander: signalR.HubConnection;
let trap: ReturnType<typeof trapProcessErrors>;
let checks = 0;
let cases = 0;

beforeAll(async () => {
  trap = trapProcessErrors();
  [node] = (await startMemoryNodes(1, {
    maximumReceiveMessageSize: 4_096,
    pollTimeout: 250,
    disconnectTimeout: 500,
    handshakeTimeout: 1_000,
  })) as [Node];
  wsBase = node.url.replace('http', 'ws');
  bystander = await connectClient(node.url, { transport: 'WebSockets', protocol: 'json' });
});
afterAll(async () => {
  trap?.dispose();
  await bystander?.stop();
  if (node) await stopNode(node);
});

/** The invariants after a batch: nothing escaped to the process; the bystander still gets a broadcast. */
async function stillServing(): Promise<void> {
  expect(trap.errors).toEqual([]);
  expect(node.server.listening).toBe(true);
  const check = ++checks;
  const received = nextCall(bystander, 'FuzzCheck', WAIT_MS);
  await node.hubs.hubContext('/chat').all.send('FuzzCheck', check);
  expect(await received).toEqual([check]);
}

async function runBatch<T>(arbitrary: fc.Arbitrary<T>, numRuns: number, run: (value: T) => Promise<void>) {
  await fc.assert(
    fc.asyncProperty(arbitrary, async (value) => {
      cases++;
      const before = trap.errors.length;
      await run(value);
      // Checked per case too, so that fast-check shrinks to the input that escaped.
      if (trap.errors.length > before)
        throw new Error(`escaped to the process: ${String(trap.errors.at(-1))}`);
    }),
    { numRuns, interruptAfterTimeLimit: BATCH_MS, markInterruptAsFailure: false },
  );
  await stillServing();
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${CASE_MS} ms`)), CASE_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Writes raw bytes on a new TCP connection and half-closes it (`after`, bytes for an upgraded socket, go
 * right behind the request: the server hands them to the WebSocket as its first bytes); resolves with what
 * came back once the response head is in or the server closed. A server that does neither is a hang: the
 * case fails.
 */
function exchange(request: Uint8Array, after: Uint8Array = new Uint8Array(0)): Promise<string> {
  const { hostname, port } = new URL(node.url);
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('error', () => {});
  const answered = new Promise<string>((resolve) => {
    const done = () => resolve(Buffer.concat(chunks).toString('latin1'));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (Buffer.concat(chunks).includes('\r\n\r\n')) done();
    });
    socket.on('close', done);
  });
  socket.write(request);
  socket.end(after);
  return within(answered, 'a raw request').finally(() => socket.destroy());
}

// ---- Arbitraries ----------------------------------------------------------------------------------

const nasty = fc.constantFrom(
  '/',
  '//',
  '\\',
  '%',
  '%00',
  '%zz',
  '%2F',
  '%2e%2e',
  '..',
  '?',
  '#',
  '&',
  '=',
  ':',
  '@',
  '[',
  ']',
  ' ',
  '\t',
  '\u0000',
  '\u0001',
  '\u007f',
  'é',
  '\u2028',
  '😀',
  '\ud800',
  '\uffff',
  'chat',
  'negotiate',
  'id=',
  'access_token=',
);
/** Characters a request line or header may carry, the ones with a meaning in URLs over-represented. */
const printable = fc.string({
  unit: fc.oneof(
    fc.constantFrom(..."/\\%?#&=:@[]._-~!$'()*+,;"),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 16,
});
const junk = fc.oneof(
  { arbitrary: printable, weight: 6 },
  {
    arbitrary: fc
      .array(fc.oneof(nasty, fc.string({ unit: 'binary', maxLength: 6 })), { maxLength: 12 })
      .map((a) => a.join('')),
    weight: 2,
  },
  { arbitrary: fc.integer({ min: 1_000, max: 20_000 }).map((n) => 'a'.repeat(n)), weight: 1 }, // huge
);
const target = fc
  .tuple(
    fc.constantFrom(
      '/chat',
      '/chat/',
      '/chat/negotiate',
      '/chat?id=',
      '/',
      '//',
      '',
      '*',
      'http://h/chat',
      '/CHAT',
    ),
    junk,
  )
  .map(([start, rest]) => start + rest);
const method = fc.oneof(
  {
    arbitrary: fc.constantFrom('GET', 'POST', 'DELETE', 'OPTIONS', 'PUT', 'HEAD', 'CONNECT', 'PATCH'),
    weight: 8,
  },
  { arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 8 }), weight: 1 },
);
const headerName = fc.oneof(
  {
    weight: 9,
    arbitrary: fc.constantFrom(
      'Host',
      'Content-Length',
      'Transfer-Encoding',
      'Accept',
      'Origin',
      'Authorization',
      'Upgrade',
      'Connection',
      'Sec-WebSocket-Key',
      'Sec-WebSocket-Version',
      'Sec-WebSocket-Extensions',
      'Expect',
      'Access-Control-Request-Headers',
      'X-Requested-With',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 12 }) },
);
const headerValue = fc.oneof(
  fc.constantFrom(
    '0',
    '5',
    '-1',
    '99999999999',
    'chunked',
    'text/event-stream',
    'websocket',
    'Upgrade',
    'close',
    '13',
    '8',
    'dGhlIHNhbXBsZSBub25jZQ==',
    'Bearer x.y.z',
    'Bearer ',
    'http://evil',
    'permessage-deflate',
    '100-continue',
  ),
  junk,
);
const headers = fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 });
const encoding = fc.constantFrom<BufferEncoding>('utf8', 'latin1');

function request(
  m: string,
  t: string,
  h: ReadonlyArray<readonly [string, string]>,
  body: string,
  enc: BufferEncoding,
): Uint8Array {
  const head = h.map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return Buffer.from(`${m} ${t} HTTP/1.1\r\nHost: fuzz\r\n${head}\r\n${body}`, enc);
}

/** A MessagePack extension value (encoded by {@link pack}). */
class Ext {
  constructor(
    readonly type: number,
    readonly data: Uint8Array,
  ) {}
}

/** A small MessagePack writer, so that the fuzz can write what a correct encoder never would. */
function pack(value: unknown): Buffer {
  const sized = (n: number, small: number | undefined, smallMax: number, codes: [number, number, number]) => {
    if (small !== undefined && n <= smallMax) return Buffer.from([small | n]);
    if (n < 0x100 && codes[0] !== 0) return Buffer.from([codes[0], n]);
    if (n < 0x10000) return Buffer.from([codes[1], n >> 8, n & 0xff]);
    const b = Buffer.alloc(5);
    b[0] = codes[2];
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (value === null || value === undefined) return Buffer.from([0xc0]);
  if (typeof value === 'boolean') return Buffer.from([value ? 0xc3 : 0xc2]);
  if (typeof value === 'bigint') {
    const b = Buffer.alloc(9);
    if (value < 0n) {
      b[0] = 0xd3;
      b.writeBigInt64BE(BigInt.asIntN(64, value), 1);
    } else {
      b[0] = 0xcf;
      b.writeBigUInt64BE(BigInt.asUintN(64, value), 1);
    }
    return b;
  }
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value < 0x80) return Buffer.from([value]);
    if (Number.isInteger(value) && value >= -32 && value < 0) return Buffer.from([value & 0xff]);
    if (Number.isSafeInteger(value)) return pack(BigInt(value));
    const b = Buffer.alloc(9);
    b[0] = 0xcb;
    b.writeDoubleBE(value, 1);
    return b;
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value);
    return Buffer.concat([sized(bytes.byteLength, 0xa0, 31, [0xd9, 0xda, 0xdb]), bytes]);
  }
  if (value instanceof Ext) {
    const n = value.data.byteLength;
    const fixed = [1, 2, 4, 8, 16].indexOf(n);
    const head = fixed >= 0 ? Buffer.from([0xd4 + fixed]) : sized(n, undefined, 0, [0xc7, 0xc8, 0xc9]);
    return Buffer.concat([head, Buffer.from([value.type & 0xff]), value.data]);
  }
  if (value instanceof Uint8Array)
    return Buffer.concat([sized(value.byteLength, undefined, 0, [0xc4, 0xc5, 0xc6]), value]);
  if (Array.isArray(value))
    return Buffer.concat([sized(value.length, 0x90, 15, [0, 0xdc, 0xdd]), ...value.map(pack)]);
  const entries = Object.entries(value as Record<string, unknown>);
  return Buffer.concat([
    sized(entries.length, 0x80, 15, [0, 0xde, 0xdf]),
    ...entries.flatMap(([k, v]) => [pack(k), pack(v)]),
  ]);
}

/** A MessagePack record: the VarInt length prefix, then the body. */
function record(body: Uint8Array): Buffer {
  const prefix: number[] = [];
  for (let n = body.byteLength; ; n = Math.floor(n / 128)) {
    if (n < 0x80) {
      prefix.push(n);
      break;
    }
    prefix.push((n % 128) | 0x80);
  }
  return Buffer.concat([Buffer.from(prefix), body]);
}

const methods = fc.constantFrom(
  'Echo',
  'echo',
  'Mark',
  'Fail',
  'FailForCaller',
  'SendMessage',
  'JoinGroup',
  'SendToGroup',
  'SendToUser',
  'SendToConnection',
  'GetConnectionId',
  'GetItem',
  'AskCaller',
  'Counter',
  'Forever',
  'BrokenStream',
  '_Hidden',
  'constructor',
  'onConnected',
  'toString',
  '__proto__',
  'hasOwnProperty',
);
const ext = fc
  .tuple(
    fc.oneof(
      { weight: 3, arbitrary: fc.constant(0x42) }, // BigInt
      { weight: 2, arbitrary: fc.constantFrom(0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x78, 0x62, -1, 0, 1) },
      { weight: 1, arbitrary: fc.integer({ min: -128, max: 127 }) },
    ),
    fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constant(new Uint8Array([0x7f, ...Array(300).fill(0xff)]))),
  )
  .map(([type, data]) => new Ext(type, data));
const { mp } = fc.letrec<{ mp: unknown }>((tie) => ({
  mp: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: fc.boolean() },
    { weight: 3, arbitrary: fc.integer() },
    { weight: 2, arbitrary: fc.double() },
    { weight: 2, arbitrary: fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }) },
    { weight: 1, arbitrary: ext },
    { weight: 2, arbitrary: fc.array(tie('mp'), { maxLength: 4 }) },
    { weight: 2, arbitrary: fc.dictionary(fc.string({ maxLength: 4 }), tie('mp'), { maxKeys: 3 }) },
  ),
}));
/** Arrays shaped like hub messages, with any item possibly wrong. */
const nearMessagePack = fc
  .tuple(
    fc.oneof(fc.integer({ min: 0, max: 10 }), mp),
    fc.oneof(fc.constant({}), mp),
    fc.oneof(fc.string({ maxLength: 4 }), fc.constant(null), mp),
    fc.oneof(methods, mp),
    fc.oneof(fc.array(mp, { maxLength: 3 }), mp),
    fc.oneof(fc.constant([]), fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }), mp),
    mp,
  )
  .chain((items) => fc.integer({ min: 0, max: items.length }).map((n) => items.slice(0, n)));
const invocationId = fc.oneof(fc.constantFrom('1', '2', 'x'), fc.string({ maxLength: 6 }));
const streamIds = fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 });
/** Hub messages as a correct client writes them (any values inside), so that they reach the hub. */
const validMessagePack = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(
      fc.constant(1),
      fc.constant({}),
      fc.oneof(invocationId, fc.constant(null)),
      methods,
      fc.array(mp, { maxLength: 3 }),
      streamIds,
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(
      fc.constant(4),
      fc.constant({}),
      invocationId,
      methods,
      fc.array(mp, { maxLength: 3 }),
      streamIds,
    ),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constant(5), fc.constant({}), invocationId) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constant(3), fc.constant({}), invocationId, fc.constantFrom(1, 2, 3), mp),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constant(2), fc.constant({}), invocationId, mp) },
  { weight: 1, arbitrary: fc.constant([6]) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(8, 9), fc.oneof(fc.nat(100), fc.bigInt({ min: 0n, max: 2n ** 64n }))),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constant(7), fc.oneof(fc.constant(null), fc.string()), fc.boolean()) },
);
const messagePackRecords = fc.array(
  fc.oneof(
    { weight: 16, arbitrary: validMessagePack.map((a) => record(pack(a))) },
    { weight: 3, arbitrary: nearMessagePack.map((a) => record(pack(a))) },
    { weight: 1, arbitrary: mp.map((v) => record(pack(v))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => record(b)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) }, // no framing
  ),
  { minLength: 1, maxLength: 3 },
);

const json = fc.jsonValue({ maxDepth: 3 });
/** Objects shaped like hub messages, with any field possibly wrong or missing. */
const nearJson = fc.record(
  {
    type: fc.oneof(fc.integer({ min: -1, max: 12 }), json),
    invocationId: fc.oneof(fc.string({ maxLength: 4 }), json),
    target: fc.oneof(methods, json),
    arguments: fc.oneof(fc.array(json, { maxLength: 3 }), json),
    streamIds: fc.oneof(fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }), json),
    headers: fc.oneof(fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 })), json),
    item: json,
    result: json,
    error: fc.oneof(fc.string({ maxLength: 8 }), json),
    sequenceId: fc.oneof(fc.integer(), json),
    allowReconnect: fc.oneof(fc.boolean(), json),
  },
  { requiredKeys: [] },
);
/** Hub messages as a correct client writes them (any values inside), so that they reach the hub. */
const validJson = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record(
      {
        type: fc.constant(1),
        invocationId,
        target: methods,
        arguments: fc.array(json, { maxLength: 3 }),
        streamIds,
      },
      { requiredKeys: ['type', 'target', 'arguments'] },
    ),
  },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        type: fc.constant(4),
        invocationId,
        target: methods,
        arguments: fc.array(json, { maxLength: 3 }),
        streamIds,
      },
      { requiredKeys: ['type', 'invocationId', 'target', 'arguments'] },
    ),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant(5), invocationId }) },
  {
    weight: 1,
    arbitrary: fc.record(
      { type: fc.constant(3), invocationId, result: json, error: fc.string({ maxLength: 8 }) },
      { requiredKeys: ['type', 'invocationId'] },
    ),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant(2), invocationId, item: json }) },
  { weight: 1, arbitrary: fc.constant({ type: 6 }) },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constantFrom(8, 9), sequenceId: fc.integer({ min: -1, max: 100 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      { type: fc.constant(7), error: fc.string({ maxLength: 8 }), allowReconnect: fc.boolean() },
      { requiredKeys: ['type'] },
    ),
  },
);
const jsonRecords = fc
  .tuple(
    fc.array(
      fc.oneof(
        { weight: 16, arbitrary: validJson.map((o) => JSON.stringify(o)) },
        { weight: 3, arbitrary: nearJson.map((o) => JSON.stringify(o)) },
        { weight: 1, arbitrary: json.map((v) => JSON.stringify(v)) },
        { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
      ),
      { minLength: 1, maxLength: 3 },
    ),
    fc.boolean(),
  )
  .map(([records, terminated]) => records.join(RS) + (terminated ? RS : ''));

const handshake = fc.oneof(
  fc
    .record(
      {
        protocol: fc.oneof(fc.constantFrom('json', 'messagepack', 'JSON', ''), json),
        version: fc.oneof(fc.integer({ min: -1, max: 3 }), json),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  json.map((v) => JSON.stringify(v)),
  fc.string({ unit: 'binary', maxLength: 60 }),
);

// ---- Cases ----------------------------------------------------------------------------------------

/**
 * Opens a WebSocket to the hub (`query` included), sends `handshake` and, once it is answered, `frames`
 * (so that they reach the hub rather than the queue of a connection still starting), closes, and waits
 * for the close.
 */
async function webSocketCase(
  query: string,
  handshakeText: string,
  frames: ReadonlyArray<string | Uint8Array>,
  awaitHandshake = true,
): Promise<void> {
  const ws = new WebSocket(`${wsBase}/chat${query}`);
  ws.on('error', () => {});
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  const opened = await within(
    Promise.race([
      new Promise<boolean>((resolve) => ws.once('open', () => resolve(true))),
      closed.then(() => false),
    ]),
    'a WebSocket upgrade',
  );
  if (!opened) return;
  const answered = new Promise<void>((resolve) => ws.once('message', () => resolve()));
  ws.send(handshakeText);
  if (awaitHandshake) await within(Promise.race([answered, closed]), 'a handshake answer');
  for (const frame of frames) ws.send(frame, { binary: typeof frame !== 'string' });
  // The server answers the close after handling every frame before it (they are read in order).
  ws.close(1000);
  await within(closed, 'a WebSocket close').finally(() => ws.terminate());
}

/** A long-polling connection: negotiate, first poll, handshake, `bodies` as POSTs, DELETE. */
async function longPollingCase(
  handshakeText: string,
  bodies: ReadonlyArray<string | Uint8Array>,
): Promise<void> {
  const negotiated = await fetch(`${node.url}/chat/negotiate?negotiateVersion=1`, { method: 'POST' });
  const { connectionToken } = (await negotiated.json()) as { connectionToken: string };
  const url = `${node.url}/chat?id=${encodeURIComponent(connectionToken)}`;
  await (await fetch(url)).arrayBuffer();
  await (await fetch(url, { method: 'POST', body: handshakeText })).arrayBuffer();
  await (await within(fetch(url), 'the handshake answer')).arrayBuffer();
  for (const body of bodies) {
    const res = await within(fetch(url, { method: 'POST', body }), 'a long-polling POST');
    await res.arrayBuffer();
    if (res.status !== 200) break; // the connection is gone (closed by bad input)
  }
  await (await fetch(url, { method: 'DELETE' })).arrayBuffer();
}

/** A real connection token, sometimes mutated. */
async function tokenVariant(kind: number): Promise<string> {
  const res = await fetch(`${node.url}/chat/negotiate?negotiateVersion=1`, { method: 'POST' });
  const token = ((await res.json()) as { connectionToken: string }).connectionToken;
  switch (kind) {
    case 0:
      return encodeURIComponent(token);
    case 1:
      return encodeURIComponent(token.slice(0, token.length >> 1));
    case 2:
      return encodeURIComponent(`${token}.`);
    case 3:
      return encodeURIComponent(token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')));
    default:
      return `${encodeURIComponent(token)}%`;
  }
}

describe('fuzz', () => {
  it('fuzz - random requests, upgrades and hub frames never take the server down', {
    timeout: 120_000,
  }, async () => {
    // 1. Raw request lines: any method, any target, any headers, any body, in UTF-8 or Latin-1.
    await runBatch(
      fc.tuple(method, target, headers, fc.string({ unit: 'binary', maxLength: 64 }), encoding),
      RUNS.raw,
      async ([m, t, h, body, enc]) => {
        await exchange(request(m, t, h, body, enc));
      },
    );

    // 2. Negotiate and the transports with random queries, headers, real and mutated connection tokens.
    await runBatch(
      fc.tuple(
        fc.constantFrom('GET', 'POST', 'DELETE', 'OPTIONS'),
        fc.constantFrom('', '/negotiate', '/negotiate/', '/x', '/'),
        fc.array(
          fc.tuple(
            fc.constantFrom(
              'id',
              'negotiateVersion',
              'useStatefulReconnect',
              'access_token',
              'user',
              'ID',
              '',
            ),
            fc.oneof(junk, fc.constantFrom('', '1', 'true', '-1', '1e999')),
          ),
          { maxLength: 4 },
        ),
        fc.option(fc.integer({ min: 0, max: 4 })),
        headers,
        fc.boolean(),
        fc.string({ unit: 'binary', maxLength: 64 }),
      ),
      RUNS.transports,
      async ([m, sub, params, tokenKind, h, sse, body]) => {
        const query = params.map(([k, v]) => `${k}=${v}`);
        if (tokenKind !== null) query.push(`id=${await tokenVariant(tokenKind)}`);
        const extra: Array<readonly [string, string]> = [...h];
        if (sse) extra.push(['Accept', 'text/event-stream']);
        if (m === 'POST') extra.push(['Content-Length', String(Buffer.byteLength(body))]);
        await exchange(request(m, `/chat${sub}?${query.join('&')}`, extra, m === 'POST' ? body : '', 'utf8'));
      },
    );

    // 3. WebSocket upgrades: random targets, upgrade headers and keys, then random bytes on the socket.
    await runBatch(
      fc.tuple(
        fc.oneof(target, fc.constantFrom('/chat', '/chat?id=', '/chat?id=x', '/chat?id=&id=')),
        fc.oneof(fc.constant('13'), headerValue),
        fc.oneof(fc.constant('dGhlIHNhbXBsZSBub25jZQ=='), headerValue),
        headers,
        fc.uint8Array({ maxLength: 64 }),
      ),
      RUNS.upgrades,
      async ([t, version, key, h, after]) => {
        const upgrade: Array<readonly [string, string]> = [
          ['Connection', 'Upgrade'],
          ['Upgrade', 'websocket'],
          ['Sec-WebSocket-Version', version],
          ['Sec-WebSocket-Key', key],
          ...h,
        ];
        await exchange(request('GET', t, upgrade, '', 'utf8'), after);
      },
    );

    // 4. Handshakes: random handshake requests (terminated or not), then a message.
    await runBatch(
      fc.tuple(handshake, fc.boolean(), fc.option(jsonRecords)),
      RUNS.handshakes,
      async ([text, terminated, next]) => {
        await webSocketCase('', terminated ? text + RS : text, next === null ? [] : [next], false);
      },
    );

    // 5. Hub frames over WebSockets: JSON records and MessagePack records after a valid handshake.
    await runBatch(
      fc.oneof(
        fc.array(jsonRecords, { minLength: 1, maxLength: 3 }).map((frames) => ['json', frames] as const),
        fc
          .array(messagePackRecords, { minLength: 1, maxLength: 3 })
          .map((frames) => ['messagepack', frames.map((r) => Buffer.concat(r))] as const),
      ),
      RUNS.frames,
      async ([protocol, frames]) => {
        await webSocketCase('', `{"protocol":"${protocol}","version":1}${RS}`, frames);
      },
    );

    // 6. Hub frames over long polling: the same records as POST bodies.
    await runBatch(
      fc.oneof(
        fc.array(jsonRecords, { minLength: 1, maxLength: 2 }).map((bodies) => ['json', bodies] as const),
        fc
          .array(messagePackRecords, { minLength: 1, maxLength: 2 })
          .map((bodies) => ['messagepack', bodies.map((r) => Buffer.concat(r))] as const),
      ),
      RUNS.polling,
      async ([protocol, bodies]) => {
        await longPollingCase(`{"protocol":"${protocol}","version":1}${RS}`, bodies);
      },
    );

    // Every fuzz connection ends: only the bystander is left (long polling ones after disconnectTimeout).
    await waitFor(() => node.hubs.connectionCount() === 1, {
      name: 'only the bystander left',
      timeoutMs: WAIT_MS,
    });
    expect(cases).toBeGreaterThan(0);
  });
});
