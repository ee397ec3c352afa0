import { createRequire } from 'node:module';
import { HubLifetimeManager, InvalidArgumentError } from '@backplane/core';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import * as signalR from '@microsoft/signalr';
import type { HttpConnection as HttpConnectionClass } from '@microsoft/signalr/dist/esm/HttpConnection.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type ConnectionHandler, Hub, HubServer, type RawConnection, signJwt } from '../src/index.js';
import { startHubServer, type TestHubServer } from './support/hub-server.js';
import { gate, quiet, SETTLE_MS, WAIT_MS } from './two-nodes.js';

// The official client's low-level connection (what its HubConnection runs on): negotiate and the
// transports, without the hub protocol. The package does not export it from its index.
const { HttpConnection } = createRequire(import.meta.url)(
  '@microsoft/signalr/dist/cjs/HttpConnection.js',
) as {
  HttpConnection: typeof HttpConnectionClass;
};

type Transport = 'WebSockets' | 'ServerSentEvents' | 'LongPolling';
const TRANSPORTS: readonly Transport[] = ['WebSockets', 'ServerSentEvents', 'LongPolling'];
const SMALL_LIMIT = 1_024;

/** What the handlers saw, for assertions. */
const ended: Array<{ connectionId: string; aborted: boolean }> = [];
const slowGate = { current: gate() };

/** The example: every message goes back as it came (text as text, bytes as bytes). */
const echo: ConnectionHandler = async (connection) => {
  for await (const message of connection) connection.send(message);
  ended.push({ connectionId: connection.connectionId, aborted: connection.connectionAborted.aborted });
};

/**
 * Answers the client's first message with who the connection is, then returns: the connection ends with
 * the handler. (It waits for a message so that the client has finished starting: a connection that ends
 * while the official client is still starting leaves that client stuck in its connecting state.)
 */
const hello: ConnectionHandler = async (connection: RawConnection) => {
  for await (const _ of connection) break;
  let bytesOnText = 'sent';
  try {
    if (connection.transport === 'ServerSentEvents') connection.send(new Uint8Array([1]));
  } catch (error) {
    bytesOnText = `${(error as Error).name}: ${(error as Error).message}`;
  }
  connection.send(
    JSON.stringify({
      connectionId: connection.connectionId,
      user: connection.userIdentifier ?? null,
      sub: connection.claims.sub ?? null,
      transport: connection.transport,
      room: connection.http.query.get('room'),
      bytesOnText,
    }),
  );
};

/** Reads nothing until the test opens its gate, then echoes. */
const slow: ConnectionHandler = async (connection) => {
  await slowGate.current.promise;
  for await (const message of connection) connection.send(message);
};

/** Fails on its first message. */
const failing: ConnectionHandler = async (connection) => {
  for await (const _ of connection) throw new Error('handler internals');
};

class ChatHub extends Hub {
  Echo(value: unknown) {
    return value;
  }
}

let server: TestHubServer;
let url: string;
const connections: HttpConnectionClass[] = [];
const sockets: WebSocket[] = [];

beforeAll(async () => {
  server = await startHubServer({ userIdQueryParameter: 'user' }, (hubs, manager) =>
    hubs
      .mapConnectionHandler('/echo', echo)
      .mapConnectionHandler('/hello', hello)
      .mapConnectionHandler('/slow', slow, { applicationMaxBufferSize: SMALL_LIMIT })
      .mapConnectionHandler('/failing', failing)
      .mapConnectionHandler('/limited', echo, {
        transports: ['WebSockets', 'LongPolling'],
        maximumReceiveMessageSize: SMALL_LIMIT,
      })
      .mapHub('/chat', ChatHub, manager('chat')),
  );
  url = server.url;
});
afterAll(async () => {
  slowGate.current.open();
  await server?.close();
});
afterEach(async () => {
  slowGate.current.open();
  slowGate.current = gate();
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.allSettled(connections.splice(0).map((c) => c.stop()));
});

/** An official client connection with what it receives and how it closed. */
interface Client {
  connection: HttpConnectionClass;
  /** Negotiate's id, as the client had it once started (it forgets it when the connection stops). */
  connectionId: string;
  next(): Promise<string | ArrayBuffer>;
  closed: Promise<Error | undefined>;
}

async function open(
  path: string,
  transport: Transport,
  format: signalR.TransferFormat = signalR.TransferFormat.Text,
  options: { accessToken?: string } = {},
): Promise<Client> {
  const connection = new HttpConnection(`${url}${path}`, {
    transport: signalR.HttpTransportType[transport],
    logger: signalR.NullLogger.instance,
    ...(options.accessToken && { accessTokenFactory: () => options.accessToken! }),
  });
  connections.push(connection);
  const received: Array<string | ArrayBuffer> = [];
  let waiter: (() => void) | undefined;
  connection.onreceive = (data) => {
    received.push(data);
    waiter?.();
  };
  const closed = new Promise<Error | undefined>((resolve) => {
    connection.onclose = resolve;
  });
  await connection.start(format);
  return {
    connection,
    connectionId: connection.connectionId!,
    closed,
    async next() {
      if (received.length === 0)
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`nothing received within ${WAIT_MS} ms`)), WAIT_MS);
          waiter = () => {
            clearTimeout(timer);
            waiter = undefined;
            resolve();
          };
        });
      return received.shift()!;
    },
  };
}

/** Resolves with the first `ended` entry of `connectionId`. */
async function handlerEnd(connectionId: string) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const entry = ended.find((e) => e.connectionId === connectionId);
    if (entry) return entry;
    if (Date.now() > deadline) throw new Error('the handler did not end');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A raw WebSocket to `path` (no negotiate: skipNegotiation), with its frames. */
async function rawSocket(path: string) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}${path}`);
  sockets.push(ws);
  const frames: Array<{ data: string | Buffer; binary: boolean }> = [];
  let waiter: (() => void) | undefined;
  ws.on('message', (data: Buffer, binary: boolean) => {
    frames.push({ data: binary ? data : data.toString(), binary });
    waiter?.();
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    ws,
    closed,
    async next() {
      if (frames.length === 0)
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no frame')), WAIT_MS);
          waiter = () => {
            clearTimeout(timer);
            waiter = undefined;
            resolve();
          };
        });
      return frames.shift()!;
    },
  };
}

async function negotiate(path: string, init: RequestInit = {}) {
  const res = await fetch(`${url}${path}/negotiate?negotiateVersion=1`, { method: 'POST', ...init });
  return {
    status: res.status,
    body: res.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined,
  };
}

describe('connection handlers', () => {
  for (const transport of TRANSPORTS) {
    it(`connection handlers - the official client's HttpConnection gets its text echoed (${transport})`, async () => {
      const client = await open('/echo', transport);
      await client.connection.send('hello');
      expect(await client.next()).toBe('hello');
      await client.connection.send('line one\nline two');
      expect(await client.next()).toBe('line one\nline two');
    });
  }

  for (const transport of ['WebSockets', 'LongPolling'] as const) {
    it(`connection handlers - bytes are echoed as bytes (${transport})`, async () => {
      const client = await open('/echo', transport, signalR.TransferFormat.Binary);
      await client.connection.send(new Uint8Array([0, 1, 254, 255]).buffer);
      const reply = await client.next();
      expect(reply).toBeInstanceOf(ArrayBuffer);
      expect([...new Uint8Array(reply as ArrayBuffer)]).toEqual([0, 1, 254, 255]);
    });
  }

  for (const transport of TRANSPORTS) {
    it(`connection handlers - the handler sees the connection, and the connection ends with the handler (${transport})`, async () => {
      const client = await open('/hello?user=ada&room=blue', transport);
      await client.connection.send('who am I?');
      const said = JSON.parse(String(await client.next())) as Record<string, unknown>;
      expect(said).toEqual({
        connectionId: client.connectionId,
        user: 'ada',
        sub: null,
        transport,
        room: 'blue',
        bytesOnText:
          transport === 'ServerSentEvents'
            ? 'InvalidArgumentError: Server-Sent Events carry text only: send a string.'
            : 'sent',
      });
      expect(await client.closed).toBeUndefined(); // an orderly end, not an error
    });
  }

  it('connection handlers - a raw WebSocket keeps each message and its frame type', async () => {
    const socket = await rawSocket('/echo');
    socket.ws.send('one');
    socket.ws.send('two');
    socket.ws.send(Buffer.from([7, 8, 9]));
    expect(await socket.next()).toEqual({ data: 'one', binary: false });
    expect(await socket.next()).toEqual({ data: 'two', binary: false });
    const bytes = await socket.next();
    expect(bytes.binary).toBe(true);
    expect([...(bytes.data as Buffer)]).toEqual([7, 8, 9]);
  });

  it('connection handlers - when the client leaves, the iteration ends and connectionAborted is aborted', async () => {
    const client = await open('/echo', 'WebSockets');
    const id = client.connectionId;
    await client.connection.send('ping');
    expect(await client.next()).toBe('ping');
    await client.connection.stop();
    expect(await handlerEnd(id)).toEqual({ connectionId: id, aborted: true });
  });

  it('connection handlers - a handler that throws ends its connection only', async () => {
    const bystander = await open('/echo', 'WebSockets');
    const client = await open('/failing', 'LongPolling');
    await client.connection.send('boom');
    await client.closed;
    await bystander.connection.send('still here');
    expect(await bystander.next()).toBe('still here');
  });

  it('connection handlers - a handler that does not read holds its client back (applicationMaxBufferSize), then catches up', async () => {
    const pausesBefore = server.hubs.stats.receivePauses;
    const { body } = await negotiate('/slow');
    const target = `${url}/slow?id=${encodeURIComponent(body!.connectionToken as string)}`;
    expect((await fetch(target)).status).toBe(200); // opens the long-polling connection
    const first = 'a'.repeat(SMALL_LIMIT / 2 + 100);
    const second = 'b'.repeat(SMALL_LIMIT / 2 + 100);
    // Read by the server, not yet by the handler: within applicationMaxBufferSize.
    expect((await fetch(target, { method: 'POST', body: first })).status).toBe(200);
    let answered = false;
    const held = fetch(target, { method: 'POST', body: second }).then((res) => {
      answered = true;
      return res;
    });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(answered).toBe(false); // past applicationMaxBufferSize unread: the client is held back
    expect(server.hubs.stats.receivePauses).toBe(pausesBefore + 1);
    slowGate.current.open();
    expect((await held).status).toBe(200);
    // Every message comes back, in order (a poll answers with what was sent since the previous one).
    let echoed = '';
    while (echoed.length < first.length + second.length) echoed += await (await fetch(target)).text();
    expect(echoed).toBe(`${first}${second}`);
    await fetch(target, { method: 'DELETE' });
  });

  it('connection handlers - options: transports and maximumReceiveMessageSize apply to the handler', async () => {
    const { body } = await negotiate('/limited');
    expect((body!.availableTransports as Array<{ transport: string }>).map((t) => t.transport)).toEqual([
      'WebSockets',
      'LongPolling',
    ]);
    const target = `${url}/limited?id=${encodeURIComponent(body!.connectionToken as string)}`;
    const events = await fetch(target, { headers: { Accept: 'text/event-stream' } });
    expect(events.status).toBe(404);
    expect(await events.text()).toBe('ServerSentEvents transport not supported by this end point type');
    expect((await fetch(target)).status).toBe(200);
    const tooLarge = await fetch(target, { method: 'POST', body: 'x'.repeat(SMALL_LIMIT + 1) });
    expect(tooLarge.status).toBe(413);
    expect((await fetch(target)).status).toBe(204); // the connection ended: its next poll is told
    const socket = await rawSocket('/limited');
    socket.ws.send('x'.repeat(SMALL_LIMIT + 1));
    expect(await socket.closed).toBe(1009); // message too big
  });

  it('connection handlers - mapping checks the path, the handler and the options; hubContext is for hubs', () => {
    const server = new HubServer({ logger: quiet }).mapConnectionHandler('/raw', echo);
    const manager = () =>
      new HubLifetimeManager({ driver: new MemoryDriver({ bus: new MemoryBus() }), hub: 'x', logger: quiet });
    expect(() => server.mapConnectionHandler('/RAW', echo)).toThrow(
      "A connection handler is already mapped at '/raw'",
    );
    expect(() => server.mapHub('/raw/', ChatHub, manager())).toThrow(InvalidArgumentError);
    expect(() => server.mapConnectionHandler('/other', 'echo' as unknown as ConnectionHandler)).toThrow(
      InvalidArgumentError,
    );
    expect(() => server.mapConnectionHandler('/other', echo, { applicationMaxBufferSize: 0 })).toThrow(
      'ConnectionHandlerOptions.applicationMaxBufferSize must be a positive number.',
    );
    expect(() => server.mapConnectionHandler('/other', echo, { transports: [] })).toThrow(
      'ConnectionHandlerOptions.transports must list at least one transport.',
    );
    expect(() => server.hubContext('/raw')).toThrow("No hub is mapped at '/raw'.");
  });

  it('connection handlers - hubs and handlers share one server', async () => {
    const hub = await server.connect('/chat', 'WebSockets');
    const client = await open('/echo', 'WebSockets');
    await client.connection.send('raw');
    expect(await client.next()).toBe('raw');
    expect(await hub.invoke('Echo', 'hub')).toBe('hub');
  });
});

describe('connection handlers with authentication', () => {
  const SECRET = 'connection-handler-secret-32-bytes!';
  let secured: TestHubServer;
  let securedUrl: string;

  beforeAll(async () => {
    secured = await startHubServer({ jwtSecret: SECRET }, (hubs) =>
      hubs.mapConnectionHandler('/hello', hello),
    );
    securedUrl = secured.url;
  });
  afterAll(() => secured?.close());

  it('connection handlers - with jwtSecret, negotiate needs a token and the handler sees its claims', async () => {
    const refused = await fetch(`${securedUrl}/hello/negotiate?negotiateVersion=1`, { method: 'POST' });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer');
    const previous = url;
    url = securedUrl;
    try {
      const client = await open('/hello', 'WebSockets', signalR.TransferFormat.Text, {
        accessToken: signJwt({ sub: 'grace' }, SECRET),
      });
      await client.connection.send('who am I?');
      const said = JSON.parse(String(await client.next())) as Record<string, unknown>;
      expect(said).toMatchObject({ user: 'grace', sub: 'grace', transport: 'WebSockets' });
    } finally {
      url = previous;
    }
  });
});
