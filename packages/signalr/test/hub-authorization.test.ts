import { MemoryBus, MemoryDriver } from '@backplane/memory';
import * as signalR from '@microsoft/signalr';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuthorizationContext,
  type AuthorizationPolicy,
  type AuthorizationRule,
  Hub,
  type HubFilter,
  HubServer,
  type MethodAuthorization,
  signJwt,
} from '../src/index.js';
import { upgradeStatus } from './raw-client.js';
import { type Combination, MATRIX, skipUnsupportedCombinations } from './support/matrix.js';
import { expectNoCall, type Node, nextCall, quiet, startNode, stopNode } from './two-nodes.js';

const JWT_SECRET = 'a-test-jwt-secret-of-at-least-32-bytes';
const token = (claims: Record<string, unknown>) => signJwt(claims, JWT_SECRET);

/** What the hub's rules and filters were asked, and which methods ran. */
const asked: Array<{ claims: Record<string, unknown>; context: AuthorizationContext }> = [];
const ran: string[] = [];
const filtered: string[] = [];

const isAdmin: AuthorizationPolicy = (claims) => claims.role === 'admin';

class GuardedHub extends Hub {
  static authorize: AuthorizationRule = async (claims, context) => {
    asked.push({ claims, context });
    return claims.banned !== true && context.http.query.get('door') !== 'closed';
  };
  static methodAuthorization = {
    deletemessage: isAdmin, // names match case-insensitively
    Secret: true,
    Watch: isAdmin,
    Notify: isAdmin,
    Mine: async (claims, context) => context.invocation?.arguments[0] === claims.sub,
    Broken: () => {
      throw new Error('policy internals');
    },
  } satisfies MethodAuthorization;
  static filters: HubFilter[] = [
    {
      invokeMethod(context, next) {
        filtered.push(context.methodName);
        return next();
      },
    },
  ];
  DeleteMessage(id: string) {
    ran.push(`DeleteMessage ${id}`);
    return `deleted ${id}`;
  }
  Secret() {
    ran.push('Secret');
    return 'the secret';
  }
  Open() {
    return 'open';
  }
  Mine(owner: string) {
    return `${owner}'s`;
  }
  Broken() {
    ran.push('Broken');
  }
  async Notify() {
    ran.push('Notify');
    await this.clients.caller.send('Notified');
  }
  async *Watch(signal: AbortSignal) {
    ran.push('Watch');
    if (!signal.aborted) yield 1;
  }
}

let secured: Node;
let anonymous: Node;
const clients: signalR.HubConnection[] = [];
beforeAll(async () => {
  secured = await startNode(
    new MemoryDriver({ bus: new MemoryBus() }),
    's1',
    { jwtSecret: JWT_SECRET },
    GuardedHub,
  );
  anonymous = await startNode(new MemoryDriver({ bus: new MemoryBus() }), 'a1', {}, GuardedHub);
});
afterAll(async () => {
  await Promise.all([stopNode(secured), stopNode(anonymous)]);
});
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
  asked.length = 0;
  ran.length = 0;
  filtered.length = 0;
});

async function client(
  node: Node,
  accessToken?: string,
  query = '',
  { transport, protocol }: Combination = { transport: 'WebSockets', protocol: 'json' },
): Promise<signalR.HubConnection> {
  let builder = new signalR.HubConnectionBuilder()
    .withUrl(`${node.url}/chat${query}`, {
      transport: signalR.HttpTransportType[transport],
      ...(accessToken && { accessTokenFactory: () => accessToken }),
    })
    .configureLogging(signalR.LogLevel.None);
  if (protocol === 'messagepack') builder = builder.withHubProtocol(new MessagePackHubProtocol());
  const connection = builder.build();
  await connection.start();
  clients.push(connection);
  return connection;
}

function negotiate(node: Node, accessToken?: string, query = '?negotiateVersion=1'): Promise<Response> {
  return fetch(`${node.url}/chat/negotiate${query}`, {
    method: 'POST',
    headers: accessToken ? { Authorization: `Bearer ${accessToken}` } : {},
  });
}

describe.each(MATRIX)('hub authorization ($transport, $protocol)', (combination) => {
  const tag = `(${combination.transport}, ${combination.protocol})`;

  it(`authorization - a refused hub fails the client's start with 403 at negotiate ${tag}`, async () => {
    await expect(client(secured, token({ sub: 'eve', banned: true }), '', combination)).rejects.toThrow(
      "Failed to complete negotiation with the server: Error: Forbidden: Status code '403'",
    );
    expect(await (await client(secured, token({ sub: 'ada' }), '', combination)).invoke('Open')).toBe('open');
  });

  it(`authorization - a refused method answers "Failed to invoke 'X' because user is unauthorized" and neither it nor the filters run ${tag}`, async () => {
    const c = await client(secured, token({ sub: 'bob', role: 'user' }), '', combination);
    await expect(c.invoke('DeleteMessage', 'm1')).rejects.toThrow(
      /^Failed to invoke 'DeleteMessage' because user is unauthorized$/,
    );
    // The target is quoted as the client sent it, as SignalR does.
    await expect(c.invoke('deleteMESSAGE', 'm1')).rejects.toThrow(
      "Failed to invoke 'deleteMESSAGE' because user is unauthorized",
    );
    expect(ran).toEqual([]);
    expect(filtered).toEqual([]);
    expect(await c.invoke('Open')).toBe('open');
    const admin = await client(secured, token({ sub: 'root', role: 'admin' }), '', combination);
    expect(await admin.invoke('DeleteMessage', 'm1')).toBe('deleted m1');
    expect(ran).toEqual(['DeleteMessage m1']);
    expect(filtered).toEqual(['Open', 'DeleteMessage']);
  });

  it(`authorization - a refused stream gets the error completion ${tag}`, async () => {
    const c = await client(secured, token({ sub: 'bob' }), '', combination);
    await expect(
      new Promise((resolve, reject) =>
        c.stream('Watch').subscribe({ next() {}, complete: () => resolve(undefined), error: reject }),
      ),
    ).rejects.toThrow("Failed to invoke 'Watch' because user is unauthorized");
    expect(ran).toEqual([]);
  });
});

describe('hub authorization - skipped', () => skipUnsupportedCombinations('authorization'));

describe('hub authorization', () => {
  it('authorization - negotiate answers 403 (empty body) when the hub refuses an authenticated user, and the client fails to start', async () => {
    const res = await negotiate(secured, token({ sub: 'eve', banned: true }));
    expect(res.status).toBe(403);
    expect(await res.text()).toBe('');
    await expect(client(secured, token({ sub: 'eve', banned: true }))).rejects.toThrow(/403/);
    const ok = await negotiate(secured, token({ sub: 'ada' }));
    expect(ok.status).toBe(200);
  });

  it('authorization - negotiate answers 401 with a bearer challenge when the hub refuses an anonymous caller', async () => {
    // Without jwtSecret every caller is anonymous: a refusal is a challenge, not a 403.
    const res = await negotiate(anonymous, undefined, '?negotiateVersion=1&door=closed');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    await expect(client(anonymous, undefined, '?door=closed')).rejects.toThrow(/401/);
    expect((await negotiate(anonymous)).status).toBe(200);
  });

  it("authorization - the hub's policy sees the verified claims, the user id and the negotiate request, not the token", async () => {
    const c = await client(secured, token({ sub: 'ada', role: 'admin' }), '?room=blue');
    expect(await c.invoke('Open')).toBe('open');
    expect(asked).toHaveLength(1);
    const [{ claims, context }] = asked as [(typeof asked)[0]];
    expect(claims).toMatchObject({ sub: 'ada', role: 'admin' });
    expect(context.userIdentifier).toBe('ada');
    expect(context.authenticated).toBe(true);
    expect(context.invocation).toBeUndefined();
    expect(context.http.query.get('room')).toBe('blue');
    expect(context.http.headers.authorization).toBeUndefined();
  });

  it('authorization - a WebSocket that skips negotiation is authorized at the upgrade (403 refused, 401 anonymous)', async () => {
    const ws = (node: Node, query: string) => upgradeStatus(`${node.url}/chat?${query}`);
    expect(await ws(secured, `access_token=${token({ sub: 'eve', banned: true })}`)).toBe(403);
    expect(await ws(anonymous, 'door=closed')).toBe(401);
    await expect(ws(secured, `access_token=${token({ sub: 'ada' })}`)).rejects.toThrow(/accepted/);
    const c = new signalR.HubConnectionBuilder()
      .withUrl(`${secured.url}/chat`, {
        transport: signalR.HttpTransportType.WebSockets,
        skipNegotiation: true,
        accessTokenFactory: () => token({ sub: 'eve', banned: true }),
      })
      .configureLogging(signalR.LogLevel.None)
      .build();
    await expect(c.start()).rejects.toThrow();
  });

  it('authorization - a refused send gets nothing back and runs nothing; a refused stream gets the error completion', async () => {
    const c = await client(secured, token({ sub: 'bob' }));
    await c.send('Notify');
    await expectNoCall(c, 'Notified');
    await expect(
      new Promise((resolve, reject) =>
        c.stream('Watch').subscribe({ next() {}, complete: () => resolve(undefined), error: reject }),
      ),
    ).rejects.toThrow("Failed to invoke 'Watch' because user is unauthorized");
    expect(ran).toEqual([]);
    const admin = await client(secured, token({ sub: 'root', role: 'admin' }));
    const notified = nextCall(admin, 'Notified');
    await admin.send('Notify');
    await notified;
  });

  it('authorization - true admits any authenticated caller and refuses anonymous ones', async () => {
    const c = await client(secured, token({ sub: 'bob' }));
    expect(await c.invoke('Secret')).toBe('the secret');
    const anon = await client(anonymous, undefined, '?user=mallory');
    await expect(anon.invoke('Secret')).rejects.toThrow(
      "Failed to invoke 'Secret' because user is unauthorized",
    );
  });

  it("authorization - a method's policy gets the call (name, arguments) and may be async; one that throws fails the call, hidden", async () => {
    const c = await client(secured, token({ sub: 'bob' }));
    expect(await c.invoke('Mine', 'bob')).toBe("bob's");
    await expect(c.invoke('Mine', 'ada')).rejects.toThrow(
      "Failed to invoke 'Mine' because user is unauthorized",
    );
    await expect(c.invoke('Broken')).rejects.toThrow(
      /^An unexpected error occurred invoking 'Broken' on the server\.$/,
    );
    expect(ran).toEqual([]);
  });

  it('authorization - a methodAuthorization entry naming no method, or a rule that is neither true nor a function, makes mapHub throw', () => {
    class Typo extends Hub {
      static methodAuthorization = { DeleteMesage: isAdmin } satisfies MethodAuthorization;
      DeleteMessage() {}
    }
    class Wrong extends Hub {
      static authorize = 'admin' as unknown as AuthorizationRule;
    }
    const map = (hub: typeof Typo | typeof Wrong) =>
      new HubServer({ logger: quiet }).mapHub('/x', hub, secured.manager);
    expect(() => map(Typo)).toThrow("Typo.methodAuthorization names 'DeleteMesage', which is not a method");
    expect(() => map(Wrong)).toThrow('Wrong.authorize must be true or a policy function');
  });
});
