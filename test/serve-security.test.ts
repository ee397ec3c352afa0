import { createHmac, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { signJwt } from '@backplane/signalr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, next, nothing } from './chat-client.js';
import { runCli, type ServeProcess, scrapeMetrics, startServe } from './serve-process.js';

const JWT_SECRET = 'a-jwt-secret-of-at-least-32-bytes!!';
/** The constant that signed connection tokens by default before: it must open nothing any more. */
const FORMER_DEFAULT_SECRET = 'backplane-dev-token-secret';

const jwt = (sub: string, secret = JWT_SECRET) =>
  signJwt({ sub, exp: Math.floor(Date.now() / 1000) + 600 }, secret);

function broadcast(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/api/broadcast`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** The status a WebSocket upgrade to `url` gets: 101 when a socket opened (then closed at once). */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A connection token as the built-in default secret used to sign them, naming `connectionId`. */
function forgeToken(connectionId: string, secret: string): string {
  const body = Buffer.from(
    JSON.stringify({ h: '/chat', c: connectionId, k: {}, e: Date.now() + 60_000, s: 0, n: 'forged' }),
  ).toString('base64url');
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

describe('serve security', () => {
  let secured: ServeProcess;
  let open: ServeProcess;
  let other: ServeProcess;
  beforeAll(async () => {
    // The JWT secret from the environment, so that it need not sit in the process list.
    [secured, open, other] = await Promise.all([
      startServe([], { BACKPLANE_JWT_SECRET: JWT_SECRET }),
      startServe([]),
      startServe([]),
    ]);
  }, 30_000);
  afterAll(async () => {
    await Promise.allSettled([secured, open, other].map((n) => n?.stop()));
  });

  it('serve security - POST /api/broadcast needs the hub Bearer JWT when a JWT secret is set', async () => {
    const receiver = await connect(secured.url, 'WebSockets', 'json', 'x', jwt('bob'));
    const missing = await broadcast(secured.url, { user: 'api', message: 'm' });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    const forged = await broadcast(
      secured.url,
      { user: 'api', message: 'm' },
      { Authorization: `Bearer ${jwt('carol', 'another-secret-of-at-least-32-bytes')}` },
    );
    expect(forged.status).toBe(401);
    await nothing(receiver);
    const got = next(receiver);
    // The scheme is case-insensitive; the sender shown is who the token names, not the body's `user`.
    const ok = await broadcast(
      secured.url,
      { user: 'mallory', message: 'signed' },
      { Authorization: `bearer ${jwt('carol')}` },
    );
    expect(ok.status).toBe(202);
    expect(await got).toEqual(['carol', 'signed']);
  });

  it('serve security - /api/broadcast takes application/json only, so a cross-site text/plain post cannot broadcast', async () => {
    const receiver = await connect(open.url, 'WebSockets', 'json', 'bob');
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const res = await broadcast(open.url, { user: 'evil', message: 'csrf' }, { 'Content-Type': type });
      expect(res.status).toBe(415);
    }
    await nothing(receiver);
    const got = next(receiver);
    const res = await broadcast(
      open.url,
      { user: 'api', message: 'ok' },
      { 'Content-Type': 'application/json; charset=utf-8' },
    );
    expect(res.status).toBe(202);
    expect(await got).toEqual(['api', 'ok']);
  });

  it('serve security - an empty group or userId is a 400, not a broadcast to everyone', async () => {
    const receiver = await connect(open.url, 'WebSockets', 'json', 'bob');
    for (const target of [{ group: '' }, { userId: '' }, { group: 'g', userId: 'bob' }, { group: 1 }]) {
      const res = await broadcast(open.url, { user: 'api', message: 'm', ...target });
      expect(res.status).toBe(400);
    }
    expect((await broadcast(open.url, '[1]')).status).toBe(400);
    await nothing(receiver);
  });

  it("serve security - the chat hub refuses arguments that are not strings with SignalR's binding failure and broadcasts nothing", async () => {
    const receiver = await connect(open.url, 'WebSockets', 'json', 'bob');
    const sender = await connect(open.url, 'LongPolling', 'messagepack', 'alice');
    await expect(sender.invoke('SendMessage', 123, { html: '<b>' })).rejects.toThrow(
      /^Failed to invoke 'SendMessage' due to an error on the server\.$/,
    );
    await expect(sender.invoke('SendToGroup', 'g', 'alice', ['not', 'text'])).rejects.toThrow(
      "Failed to invoke 'SendToGroup' due to an error on the server.",
    );
    await sender.send('SendToOthers', 'alice', 42);
    await nothing(receiver);
    const got = next(receiver);
    await sender.invoke('SendMessage', 'alice', 'text');
    expect(await got).toEqual(['alice', 'text']);
  });

  it('serve security - behind a JWT secret the chat hub shows the authenticated user as sender, not the argument', async () => {
    const receiver = await connect(secured.url, 'WebSockets', 'json', 'x', jwt('bob'));
    const sender = await connect(secured.url, 'LongPolling', 'json', 'x', jwt('carol'));
    let got = next(receiver);
    await sender.invoke('SendMessage', 'mallory', 'hi');
    expect(await got).toEqual(['carol', 'hi']);
    got = next(receiver);
    await sender.invoke('SendToUser', 'bob', 'alice', 'direct');
    expect(await got).toEqual(['carol', 'direct']);
  });

  it('serve security - /health is minimal and not cached; every response says nosniff and no-referrer', async () => {
    const res = await fetch(`${open.url}/health`);
    expect(await res.json()).toEqual({ status: 'ok', backplane: 'connected', link: 'up' });
    expect(res.headers.get('cache-control')).toBe('no-store');
    // The counters live on /metrics instead, without ids.
    const metrics = await scrapeMetrics(open.url);
    expect(metrics).toMatchObject({
      backplane_link_up: 1,
      backplane_slow_consumer_closes_total: 0,
      backplane_malformed_total: 0,
    });
    // Earlier cases sent hub messages: at least one record per message written.
    expect(metrics.backplane_frames_sent_total).toBeGreaterThan(0);
    expect(metrics.backplane_records_sent_total).toBeGreaterThanOrEqual(metrics.backplane_frames_sent_total!);
    for (const path of ['/health', '/metrics', '/nowhere']) {
      const r = await fetch(`${open.url}${path}`);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('serve security - a token signed with the former built-in secret cannot take over a connection', async () => {
    const victim = await connect(open.url, 'WebSockets', 'json', 'victim');
    const victimId = await victim.invoke<string>('GetConnectionId');
    const status = await upgradeStatus(`${open.url}/chat?id=${forgeToken(victimId, FORMER_DEFAULT_SECRET)}`);
    expect(status).not.toBe(101);
    const got = next(victim);
    expect((await broadcast(open.url, { user: 'api', message: 'still yours' })).status).toBe(202);
    expect(await got).toEqual(['api', 'still yours']);
  });

  it('serve security - without --token-secret each node signs with its own random secret and says so in one line', async () => {
    const negotiated = (await (
      await fetch(`${open.url}/chat/negotiate?negotiateVersion=1`, { method: 'POST' })
    ).json()) as { connectionToken: string };
    // The node that negotiated accepts its token; the other node (another process) refuses it.
    expect(await upgradeStatus(`${other.url}/chat?id=${negotiated.connectionToken}`)).not.toBe(101);
    expect(await upgradeStatus(`${open.url}/chat?id=${negotiated.connectionToken}`)).toBe(101);
    expect(open.process.output).toMatch(/^backplane: no --token-secret: .*random secret/m);
  });
});

describe('serve security - secrets on the command line', () => {
  it('cli - an empty --jwt-secret or --token-secret is one usage error (exit 2), never authentication off', async () => {
    const cases = [
      [['--jwt-secret', ''], {}, 'backplane: --jwt-secret must not be empty (BACKPLANE_JWT_SECRET too)'],
      [
        [],
        { BACKPLANE_JWT_SECRET: '' },
        'backplane: --jwt-secret must not be empty (BACKPLANE_JWT_SECRET too)',
      ],
      [
        ['--token-secret', ''],
        {},
        'backplane: --token-secret must not be empty (BACKPLANE_TOKEN_SECRET too)',
      ],
      [
        ['--jwt-secret', 'short'],
        {},
        'backplane: --jwt-secret must be at least 32 bytes (got 5): a short HS256 key can be guessed',
      ],
    ] as const;
    const runs = await Promise.all(
      cases.map(([args, env]) => runCli(['serve', '--port', '0', ...args], 30_000, { ...env })),
    );
    expect(runs.map((r) => ({ code: r.code, lines: r.output.trim().split('\n') }))).toEqual(
      cases.map(([, , line]) => ({ code: 2, lines: [line] })),
    );
  });
});
