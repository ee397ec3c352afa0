import type { IncomingMessage } from 'node:http';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import * as signalR from '@microsoft/signalr';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TransportRequest } from '../src/http-request.js';
import { Hub, type HubCallerContext, signJwt } from '../src/index.js';
import { RawSocket, RS } from './raw-client.js';
import { MATRIX, skipUnsupportedCombinations, TRANSPORTS } from './support/matrix.js';
import { type Node, startNode, stopNode, type TransportName } from './two-nodes.js';

/** 32 bytes: the shortest HS256 secret a HubServer accepts. */
const SECRET = 'http-context-test-secret-32-byte';

/** What a hub sees of the HTTP request, in a form a client can receive. */
function describeContext(context: HubCallerContext) {
  const { http } = context;
  return {
    transport: context.transport,
    headers: { ...http.headers },
    query: [...http.query],
    cookies: { ...http.cookies },
    remoteAddress: http.remoteAddress ?? null,
  };
}
type Described = ReturnType<typeof describeContext>;

/** What `onConnected` saw, by connection id. */
const onConnected = new Map<string, Described>();

class ContextHub extends Hub {
  override onConnected() {
    onConnected.set(this.context.connectionId, describeContext(this.context));
  }
  Describe() {
    return describeContext(this.context);
  }
  GetConnectionId() {
    return this.context.connectionId;
  }
}

let open: Node;
let secured: Node;
const clients: signalR.HubConnection[] = [];

beforeAll(async () => {
  open = await startNode(new MemoryDriver({ bus: new MemoryBus() }), 'h1', {}, ContextHub);
  secured = await startNode(
    new MemoryDriver({ bus: new MemoryBus() }),
    'h2',
    { jwtSecret: SECRET },
    ContextHub,
  );
});
afterAll(async () => {
  await Promise.all([open, secured].filter(Boolean).map(stopNode));
});
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
});

async function connect(
  node: Node,
  transport: TransportName,
  options: { json?: boolean; token?: string; query?: string } = {},
) {
  let builder = new signalR.HubConnectionBuilder()
    .withUrl(`${node.url}/chat${options.query ?? ''}`, {
      transport: signalR.HttpTransportType[transport],
      headers: { 'X-Custom': 'custom value', Cookie: 'theme=dark; name=J%C3%BCrgen%20X; theme=light' },
      ...(options.token && { accessTokenFactory: () => options.token! }),
    })
    .configureLogging(signalR.LogLevel.None);
  if (options.json === false) builder = builder.withHubProtocol(new MessagePackHubProtocol());
  const connection = builder.build();
  await connection.start();
  clients.push(connection);
  return connection;
}

describe.each(MATRIX)('http context ($transport, $protocol)', ({ transport, protocol }) => {
  it(`http context - headers, query, cookies, address and transport reach onConnected and methods (${transport}, ${protocol})`, async () => {
    const c = await connect(open, transport, { query: '?room=blue&lang=fr', json: protocol === 'json' });
    const described = await c.invoke<Described>('Describe');
    expect(described.transport).toBe(transport);
    expect(described.headers['x-custom']).toBe('custom value');
    expect(described.headers['user-agent']).toMatch(/^Microsoft SignalR\//);
    expect(described.headers.host).toBe(new URL(open.url).host);
    // The long-polling client adds a cache buster (`_`) to its polls.
    expect(described.query.filter(([name]) => name !== '_')).toEqual([
      ['room', 'blue'],
      ['lang', 'fr'],
    ]);
    expect(described.cookies).toEqual({ theme: 'dark', name: 'Jürgen X' });
    expect(described.remoteAddress).toBe('127.0.0.1');
    // The connection token is not shown (it is a bearer secret for this connection).
    expect(described.query.map(([name]) => name)).not.toContain('id');
    const id = await c.invoke<string>('GetConnectionId');
    expect(onConnected.get(id)).toEqual(described);
  });
});

describe('http context - skipped', () => skipUnsupportedCombinations('http context'));

describe('http context - official client', () => {
  for (const transport of TRANSPORTS) {
    it(`http context - the access token is never visible, from the query or the Authorization header (${transport})`, async () => {
      const token = signJwt({ sub: 'ada' }, SECRET);
      const c = await connect(secured, transport, { token, query: '?room=red' });
      const described = await c.invoke<Described>('Describe');
      expect(described.query.filter(([name]) => name !== '_')).toEqual([['room', 'red']]);
      expect(described.headers.authorization).toBeUndefined();
      expect(JSON.stringify(described)).not.toContain(token);
      expect(described.transport).toBe(transport);
    });
  }

  it('http context - WebSocket handshake and hop-by-hop headers are left out', async () => {
    const c = await connect(open, 'WebSockets');
    const names = Object.keys((await c.invoke<Described>('Describe')).headers);
    expect(
      names.filter((n) => n.startsWith('sec-websocket-') || n === 'upgrade' || n === 'connection'),
    ).toEqual([]);
  });
});

describe('http context - raw', () => {
  it('http context - a skipNegotiation WebSocket keeps its query without access_token', async () => {
    const token = signJwt({ sub: 'raw' }, SECRET);
    const socket = await RawSocket.open(secured.url, `?access_token=${token}&app=1`);
    socket.send(`{"protocol":"json","version":1}${RS}`);
    expect(await socket.nextRecord()).toBe(`{}${RS}`);
    socket.send(`{"type":1,"invocationId":"d","target":"Describe","arguments":[]}${RS}`);
    const answer = await socket.nextNonPing<{ result: Described }>();
    expect(answer.result.query).toEqual([['app', '1']]);
    expect(answer.result.transport).toBe('WebSockets');
    socket.close();
  });
});

describe('http context - request snapshot', () => {
  function request(rawHeaders: string[], remoteAddress = '10.0.0.7'): IncomingMessage {
    return { rawHeaders, socket: { remoteAddress } } as unknown as IncomingMessage;
  }

  it('http context - repeated headers are joined, cookie headers with "; ", names lower-cased', () => {
    const r = new TransportRequest(
      request(['Accept', 'a', 'accept', 'b', 'Cookie', 'x=1', 'COOKIE', 'y=2; x=3']),
      new URL('http://h/'),
      true,
    );
    expect({ ...r.headers }).toEqual({ accept: 'a, b', cookie: 'x=1; y=2; x=3' });
    expect({ ...r.cookies }).toEqual({ x: '1', y: '2' });
  });

  it('http context - a bearer Authorization is hidden, another scheme is kept', () => {
    const bearer = new TransportRequest(request(['Authorization', 'bearer abc']), new URL('http://h/'), true);
    expect(bearer.headers.authorization).toBeUndefined();
    const basic = new TransportRequest(request(['Authorization', 'Basic eDp5']), new URL('http://h/'), true);
    expect(basic.headers.authorization).toBe('Basic eDp5');
  });

  it('http context - hostile cookie and header names do not reach prototypes; bad escapes stay as sent', () => {
    const r = new TransportRequest(
      request([
        '__proto__',
        'p',
        'Cookie',
        '__proto__=x; constructor=y; bad=%E0%A4%A; quoted="a%20b"; =z; flag',
      ]),
      new URL('http://h/'),
      true,
    );
    const headers = r.headers;
    expect(Object.entries(headers)).toEqual([
      ['__proto__', 'p'],
      ['cookie', '__proto__=x; constructor=y; bad=%E0%A4%A; quoted="a%20b"; =z; flag'],
    ]);
    expect(Object.getPrototypeOf(headers)).toBeNull();
    const cookies = r.cookies;
    expect(Object.entries(cookies)).toEqual([
      ['__proto__', 'x'],
      ['constructor', 'y'],
      ['bad', '%E0%A4%A'],
      ['quoted', 'a b'],
    ]);
    expect(Object.getPrototypeOf(cookies)).toBeNull();
  });

  it('http context - only id and access_token are removed from the query', () => {
    const r = new TransportRequest(
      request([]),
      new URL('http://h/?id=tok&access_token=secret&a=1&a=2&b=%20'),
      true,
    );
    expect([...r.query]).toEqual([
      ['a', '1'],
      ['a', '2'],
      ['b', ' '],
    ]);
    expect([...new TransportRequest(request([]), new URL('http://h/?id=tok'), true).query]).toEqual([]);
  });

  it('http context - long polling keeps the address, the others read it from the live socket', () => {
    const socket = { remoteAddress: '10.0.0.1' as string | undefined };
    const req = { rawHeaders: [], socket } as unknown as IncomingMessage;
    const live = new TransportRequest(req, new URL('http://h/'), true);
    const kept = new TransportRequest(req, new URL('http://h/'), false);
    socket.remoteAddress = undefined; // the socket is gone
    expect(live.remoteAddress).toBeUndefined();
    expect(kept.remoteAddress).toBe('10.0.0.1');
  });
});
