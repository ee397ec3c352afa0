import { HubLifetimeManager, InvalidArgumentError } from '@backplane/core';
import { JsonHubProtocol, MessagePackHubProtocol } from '@backplane/hub-protocol';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Hub, type HubOptions, HubServer, signJwt } from '../src/index.js';
import { RawSocket, RS } from './raw-client.js';
import { startHubServer, type TestHubServer } from './support/hub-server.js';
import { MATRIX, skipUnsupportedCombinations } from './support/matrix.js';
import { type ProtocolName, quiet, type TransportName, WAIT_MS } from './two-nodes.js';

class EchoHub extends Hub {
  Echo(value: unknown) {
    return value;
  }
}

/** Short timers, so per-hub keep-alive shows in milliseconds. */
const KEEP_ALIVE_MS = 100;
const HANDSHAKE_TIMEOUT_MS = 200;
const POLL_TIMEOUT_MS = 200;
const SMALL_LIMIT = 1_024;

/** WebSockets only, small messages, fast keep-alive and handshake timeout, no stateful reconnect. */
const STRICT: HubOptions = {
  transports: ['WebSockets'],
  maximumReceiveMessageSize: SMALL_LIMIT,
  keepAliveInterval: KEEP_ALIVE_MS,
  handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  statefulReconnectBufferSize: 0,
};
/** The HTTP transports only, short polls. */
const POLLING: HubOptions = { transports: ['ServerSentEvents', 'LongPolling'], pollTimeout: POLL_TIMEOUT_MS };

let server: TestHubServer;
let url: string;
let managers: readonly HubLifetimeManager[];
const sockets: RawSocket[] = [];

beforeAll(async () => {
  // The server's own options are the defaults: each hub differs only by what it says.
  server = await startHubServer({}, (hubs, manager) =>
    hubs
      .mapHub('/strict', EchoHub, manager('strict'), STRICT)
      .mapHub('/polling', EchoHub, manager('polling'), POLLING)
      .mapHub('/chat', EchoHub, manager('chat'))
      .mapHub('/small', EchoHub, manager('small'), { maximumReceiveMessageSize: SMALL_LIMIT }),
  );
  ({ url, managers } = server);
});
afterAll(() => server.close());
afterEach(async () => {
  for (const s of sockets.splice(0)) s.ws.terminate();
  await server.stopClients();
});

const connect = (path: string, transport: TransportName, protocol: ProtocolName = 'json') =>
  server.connect(path, transport, { protocol });

async function negotiate(path: string, query = '') {
  const res = await fetch(`${url}${path}/negotiate?negotiateVersion=1${query}`, { method: 'POST' });
  expect(res.status).toBe(200);
  return (await res.json()) as {
    connectionToken: string;
    availableTransports: Array<{ transport: string }>;
    useStatefulReconnect?: boolean;
  };
}

async function openSocket(path: string, query = ''): Promise<RawSocket> {
  const socket = await RawSocket.open(url, query, path);
  sockets.push(socket);
  return socket;
}

/** The status and body an upgrade is refused with. */
function upgradeRefusal(target: string): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(target.replace('http', 'ws'));
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
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

describe.each(MATRIX)(
  'hub options - allowed transports ($transport, $protocol)',
  ({ transport, protocol }) => {
    it(`hub options - the official client connects only over a transport the hub allows (${transport}, ${protocol})`, async () => {
      for (const [path, allowed] of [
        ['/strict', STRICT.transports],
        ['/polling', POLLING.transports],
      ] as const) {
        const started = connect(path, transport, protocol);
        if (allowed?.includes(transport)) {
          expect(await (await started).invoke('Echo', path)).toBe(path);
          continue;
        }
        // Negotiate offered only the others, which this client has disabled.
        const error = (await started.then(
          () => new Error('connected'),
          (e: Error) => e,
        )) as Error;
        expect(error.message, path).toMatch(
          /^Unable to connect to the server with any of the available transports\./,
        );
        expect(error.message, path).not.toContain(`'${transport}'`);
      }
    });

    it(`hub options - maximumReceiveMessageSize applies to its hub only (${transport}, ${protocol})`, async () => {
      const large = 'x'.repeat(SMALL_LIMIT * 2);
      const small = await connect('/small', transport, protocol);
      const closed = new Promise<Error | undefined>((resolve) => small.onclose(resolve));
      await expect(small.invoke('Echo', large)).rejects.toThrow();
      expect(await closed).toBeInstanceOf(Error);
      const chat = await connect('/chat', transport, protocol);
      expect(await chat.invoke('Echo', large)).toBe(large);
    });
  },
);

describe('hub options - skipped', () => skipUnsupportedCombinations('hub options'));

describe('hub options', () => {
  it('hub options - negotiate lists only the transports a hub allows', async () => {
    const listed = async (path: string) =>
      (await negotiate(path)).availableTransports.map((t) => t.transport);
    expect(await listed('/strict')).toEqual(['WebSockets']);
    expect(await listed('/polling')).toEqual(['ServerSentEvents', 'LongPolling']);
    expect(await listed('/chat')).toEqual(['WebSockets', 'ServerSentEvents', 'LongPolling']);
  });

  it('hub options - a request on a transport the hub does not allow gets 404 with ASP.NET Core text, and leaves the token usable', async () => {
    const { connectionToken } = await negotiate('/strict');
    const target = `${url}/strict?id=${encodeURIComponent(connectionToken)}`;
    const poll = await fetch(target);
    expect(poll.status).toBe(404);
    expect(await poll.text()).toBe('LongPolling transport not supported by this end point type');
    const events = await fetch(target, { headers: { Accept: 'text/event-stream' } });
    expect(events.status).toBe(404);
    expect(await events.text()).toBe('ServerSentEvents transport not supported by this end point type');
    // Refused before the token was redeemed: it still opens its WebSocket.
    const socket = await openSocket('/strict', `?id=${encodeURIComponent(connectionToken)}`);
    socket.send(`{"protocol":"json","version":1}${RS}`);
    expect(await socket.nextRecord()).toBe(`{}${RS}`);

    const polling = await negotiate('/polling');
    const refused = await upgradeRefusal(`${url}/polling?id=${encodeURIComponent(polling.connectionToken)}`);
    expect(refused).toEqual({
      status: 404,
      body: 'WebSockets transport not supported by this end point type',
    });
    // skipNegotiation: a WebSocket without a token.
    expect((await upgradeRefusal(`${url}/polling`)).status).toBe(404);
  });

  it('hub options - keepAliveInterval applies to its hub only', async () => {
    const handshaken = async (path: string) => {
      const socket = await openSocket(path);
      socket.send(`{"protocol":"json","version":1}${RS}`);
      expect(await socket.nextRecord()).toBe(`{}${RS}`);
      return socket;
    };
    const [strict, chat] = await Promise.all([handshaken('/strict'), handshaken('/chat')]);
    expect(await strict.nextJson(KEEP_ALIVE_MS * 20)).toEqual({ type: 6 });
    expect(await strict.nextJson(KEEP_ALIVE_MS * 20)).toEqual({ type: 6 });
    // Two of /strict's intervals have passed: /chat (15 s by default) has not pinged.
    expect(chat.frames).toHaveLength(1); // its handshake response
  });

  it('hub options - handshakeTimeout applies to its hub only', async () => {
    const [strict, chat] = await Promise.all([openSocket('/strict'), openSocket('/chat')]);
    expect(await strict.nextJson(HANDSHAKE_TIMEOUT_MS * 10)).toEqual({ error: 'Handshake was canceled.' });
    await strict.closed;
    // /chat's socket, opened at the same time, still takes its handshake.
    expect(chat.frames).toEqual([]);
    chat.send(`{"protocol":"json","version":1}${RS}`);
    expect(await chat.nextRecord()).toBe(`{}${RS}`);
  });

  it('hub options - pollTimeout applies to its hub only', async () => {
    const open = async (path: string) => {
      const target = `${url}${path}?id=${encodeURIComponent((await negotiate(path)).connectionToken)}`;
      expect((await fetch(target)).status).toBe(200); // the first poll answers at once
      await fetch(target, { method: 'POST', body: `{"protocol":"json","version":1}${RS}` });
      expect(await (await fetch(target)).text()).toBe(`{}${RS}`);
      return target;
    };
    const [polling, chat] = await Promise.all([open('/polling'), open('/chat')]);
    let chatPollDone = false;
    const chatPoll = fetch(chat).then((res) => {
      chatPollDone = true;
      return res;
    });
    const pollingPoll = await fetch(polling);
    expect(pollingPoll.status).toBe(200);
    expect(await pollingPoll.text()).toBe(''); // timed out empty after /polling's 200 ms
    expect(chatPollDone).toBe(false); // /chat's poll is held for 90 s by default
    expect((await fetch(chat, { method: 'DELETE' })).status).toBe(202);
    expect((await chatPoll).status).toBe(204);
    await fetch(polling, { method: 'DELETE' });
  });

  it('hub options - statefulReconnectBufferSize 0 turns stateful reconnect off for its hub only', async () => {
    expect((await negotiate('/strict', '&useStatefulReconnect=true')).useStatefulReconnect).toBeUndefined();
    expect((await negotiate('/chat', '&useStatefulReconnect=true')).useStatefulReconnect).toBe(true);
  });

  it('hub options - invalid options are refused with InvalidArgumentError, as the server options are', async () => {
    const m = managers[0]!;
    const hubServer = new HubServer({ logger: quiet });
    const refused: Array<[HubOptions, string]> = [
      [{ keepAliveInterval: 0 }, 'HubOptions.keepAliveInterval must be a positive number.'],
      [{ pollTimeout: Number.NaN }, 'HubOptions.pollTimeout must be a positive number.'],
      [{ streamBufferCapacity: 1.5 }, 'HubOptions.streamBufferCapacity must be a positive integer.'],
      [{ statefulReconnectBufferSize: -1 }, 'HubOptions.statefulReconnectBufferSize must be 0 or more.'],
      [{ transports: [] }, 'HubOptions.transports must list at least one transport.'],
      [
        { transports: ['Carrier pigeon' as 'WebSockets'] },
        "HubOptions.transports: 'Carrier pigeon' is not a transport",
      ],
    ];
    for (const [options, message] of refused) {
      expect(() => hubServer.mapHub('/x', EchoHub, m, options)).toThrow(InvalidArgumentError);
      expect(() => hubServer.mapHub('/x', EchoHub, m, options)).toThrow(message);
    }
    expect(() => new HubServer({ transports: [] })).toThrow(
      'HubServerOptions.transports must list at least one transport.',
    );
    const jsonOnly = new HubLifetimeManager({
      driver: new MemoryDriver({ bus: new MemoryBus() }),
      hub: 'json-only',
      logger: quiet,
      protocols: [new JsonHubProtocol()],
    });
    expect(() =>
      hubServer.mapHub('/x', EchoHub, jsonOnly, { protocols: [new MessagePackHubProtocol()] }),
    ).toThrow("HubOptions.protocols offers 'messagepack'");
    // A hub that failed to map left nothing behind.
    expect(() => hubServer.mapHub('/x', EchoHub, m)).not.toThrow();
  });

  it('hub options - a hub inherits the server options it does not override', async () => {
    const local = await startHubServer(
      { transports: ['LongPolling'], pollTimeout: POLL_TIMEOUT_MS },
      (hubs, manager) =>
        hubs.mapHub('/inherit', EchoHub, manager('inherit'), { maximumReceiveMessageSize: SMALL_LIMIT }),
    );
    try {
      const base = local.url;
      const res = await fetch(`${base}/inherit/negotiate?negotiateVersion=1`, { method: 'POST' });
      const body = (await res.json()) as { connectionToken: string; availableTransports: unknown[] };
      expect(body.availableTransports).toEqual([
        { transport: 'LongPolling', transferFormats: ['Text', 'Binary'] },
      ]);
      const target = `${base}/inherit?id=${encodeURIComponent(body.connectionToken)}`;
      await fetch(target);
      await fetch(target, { method: 'POST', body: `{"protocol":"json","version":1}${RS}` });
      expect(await (await fetch(target)).text()).toBe(`{}${RS}`);
      const held = await fetch(target, { signal: AbortSignal.timeout(WAIT_MS) });
      expect(await held.text()).toBe(''); // the server's pollTimeout
      await fetch(target, { method: 'DELETE' });
    } finally {
      await local.close();
    }
  });

  it('hub options - closeOnAuthenticationExpiration applies to its hub (and connection handler) only', {
    timeout: 3_000 + 2 * WAIT_MS,
  }, async () => {
    const secret = 'hub-options-secret-of-32-bytes-ok';
    const raw: Array<{ aborted: Promise<void> }> = [];
    const local = await startHubServer({ jwtSecret: secret, jwtClockSkew: 0 }, (hubs, manager) =>
      hubs
        .mapHub('/expiring', EchoHub, manager('expiring'), { closeOnAuthenticationExpiration: true })
        .mapHub('/lasting', EchoHub, manager('lasting'))
        .mapConnectionHandler(
          '/raw',
          async (connection) => {
            const aborted = new Promise<void>((resolve) =>
              connection.connectionAborted.addEventListener('abort', () => resolve()),
            );
            raw.push({ aborted });
            await aborted;
          },
          { closeOnAuthenticationExpiration: true },
        ),
    );
    const base = local.url;
    // exp is whole seconds: the token expires 2.5 to 3.5 s from now, after both connections are up.
    const accessToken = signJwt({ sub: 'ada', exp: Math.ceil((Date.now() + 2_500) / 1000) }, secret);
    // Each over the transport the client picks first (WebSockets).
    const start = (path: string) => local.connect(path, 'WebSockets', { accessToken });
    try {
      const [expiring, lasting] = await Promise.all([start('/expiring'), start('/lasting')]);
      const closed = new Promise<Error | undefined>((resolve) => expiring.onclose(resolve));
      const socket = new WebSocket(`${base.replace('http', 'ws')}/raw?access_token=${accessToken}`);
      const socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      expect((await closed)?.message).toContain('Connection closed with an error.');
      await socketClosed;
      await raw[0]!.aborted;
      expect(await lasting.invoke('Echo', 'alive')).toBe('alive');
    } finally {
      await local.close();
    }
  });
});
