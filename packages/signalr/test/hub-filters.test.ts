import { HubError } from '@backplane/core';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { waitFor } from '@backplane/testkit';
import * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Hub, type HubFilter, HubServer, signJwt } from '../src/index.js';
import { type Combination, MATRIX, skipUnsupportedCombinations } from './support/matrix.js';
import {
  connectClient,
  expectNoCall,
  type Node,
  nextCall,
  quiet,
  startNode,
  stopNode,
  WAIT_MS,
} from './two-nodes.js';

/** The transport and protocol of the tests that show one combination only. */
const DEFAULT: Combination = { transport: 'WebSockets', protocol: 'json' };

const JWT_SECRET = 'a-test-jwt-secret-of-at-least-32-bytes';

/** What filters and the hub saw, in order. */
const trail: string[] = [];
/** Connections of the filtered hub whose onConnected ran and whose onDisconnected has not yet. */
let live = 0;

/** Records around every call and hook, under `name`. */
function recorder(name: string): HubFilter {
  return {
    async invokeMethod(context, next) {
      trail.push(`${name} before ${context.methodName}`);
      const result = await next();
      trail.push(`${name} after ${context.methodName}`);
      return result;
    },
    async onConnected(context, next) {
      trail.push(`${name} connected ${context.context.connectionId === context.hub.context.connectionId}`);
      await next();
    },
    async onDisconnected(_context, error, next) {
      trail.push(`${name} disconnected ${error?.message ?? 'cleanly'}`);
      await next();
    },
  };
}

/** Tests one filter feature at a time: each test sets what it needs. */
const behaviour: { filter?: HubFilter } = {};
const switchable: HubFilter = {
  invokeMethod: (context, next) =>
    behaviour.filter?.invokeMethod ? behaviour.filter.invokeMethod(context, next) : next(),
};

class FilteredHub extends Hub {
  static filters = [recorder('hub'), switchable];
  override onConnected() {
    live++;
    trail.push('hub onConnected');
  }
  override onDisconnected(error?: Error) {
    live--;
    trail.push(`hub onDisconnected ${error?.message ?? 'cleanly'}`);
  }
  Echo(value: unknown) {
    trail.push(`method Echo ${JSON.stringify(value)}`);
    return value;
  }
  Add(a: number, b: number) {
    return a + b;
  }
  async Shout(message: string) {
    await this.clients.caller.send('Shouted', message);
  }
  Fail() {
    throw new Error('method internals');
  }
  async *Count(to: number, signal: AbortSignal) {
    for (let i = 1; i <= to && !signal.aborted; i++) yield i;
  }
  async Upload(chunks: AsyncIterable<string>) {
    let all = '';
    for await (const chunk of chunks) all += chunk;
    return all;
  }
}

let node: Node;
const clients: signalR.HubConnection[] = [];
beforeAll(async () => {
  node = await startNode(
    new MemoryDriver({ bus: new MemoryBus() }),
    'n1',
    { filters: [recorder('global')], jwtSecret: JWT_SECRET },
    FilteredHub,
  );
});
afterAll(async () => {
  await stopNode(node);
});
afterEach(async () => {
  behaviour.filter = undefined;
  await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
  // The next test's trail starts once every connection's hooks have run.
  await waitFor(() => live === 0, { name: 'every onDisconnected', timeoutMs: WAIT_MS });
  trail.length = 0;
});

async function client(
  sub = 'ada',
  { transport, protocol }: Combination = DEFAULT,
): Promise<signalR.HubConnection> {
  const token = signJwt({ sub, role: 'tester' }, JWT_SECRET);
  const c = await connectClient(node.url, { transport, protocol, accessToken: token });
  clients.push(c);
  await waitFor(() => trail.includes('hub onConnected'), { name: 'onConnected', timeoutMs: WAIT_MS });
  return c;
}

describe.each(MATRIX)('hub filters ($transport, $protocol)', (combination) => {
  const tag = `(${combination.transport}, ${combination.protocol})`;

  it(`filters - global then hub filters wrap each call in registration order, and the result comes back through them ${tag}`, async () => {
    const c = await client('ada', combination);
    trail.length = 0;
    expect(await c.invoke('echo', 'hi')).toBe('hi');
    expect(trail).toEqual([
      'global before Echo',
      'hub before Echo',
      'method Echo "hi"',
      'hub after Echo',
      'global after Echo',
    ]);
  });

  it(`filters - a filter throwing HubError refuses the call with its message ${tag}`, async () => {
    const c = await client('ada', combination);
    behaviour.filter = {
      invokeMethod() {
        throw new HubError('Not now.');
      },
    };
    await expect(c.invoke('Echo', 'hi')).rejects.toThrow(
      "An unexpected error occurred invoking 'Echo' on the server. HubException: Not now.",
    );
    expect(trail.filter((t) => t.startsWith('method'))).toEqual([]);
  });

  it(`filters - server streams and client-to-server streams go through the filters ${tag}`, async () => {
    const c = await client('ada', combination);
    trail.length = 0;
    const items: number[] = [];
    await new Promise<void>((resolve, reject) => {
      c.stream<number>('Count', 3).subscribe({
        next: (i) => items.push(i),
        complete: resolve,
        error: reject,
      });
    });
    expect(items).toEqual([1, 2, 3]);
    const subject = new signalR.Subject<string>();
    const uploaded = c.invoke('Upload', subject);
    subject.next('a');
    subject.complete();
    expect(await uploaded).toBe('a');
    expect(trail.filter((t) => t.startsWith('global before'))).toEqual([
      'global before Count',
      'global before Upload',
    ]);
  });

  it(`filters - onConnected and onDisconnected filters wrap the hooks, global first, with the same hub context ${tag}`, async () => {
    const c = await client('ada', combination);
    expect(trail).toEqual(['global connected true', 'hub connected true', 'hub onConnected']);
    trail.length = 0;
    await c.stop();
    await waitFor(() => trail.includes('hub onDisconnected cleanly'), {
      name: 'onDisconnected',
      timeoutMs: WAIT_MS,
    });
    expect(trail).toEqual([
      'global disconnected cleanly',
      'hub disconnected cleanly',
      'hub onDisconnected cleanly',
    ]);
  });
});

describe('hub filters - skipped', () => skipUnsupportedCombinations('filters'));

describe('hub filters', () => {
  it('filters - a filter sees the hub, the declared method name, the arguments and the caller claims', async () => {
    const c = await client('grace');
    const seenBy: unknown[] = [];
    behaviour.filter = {
      invokeMethod(context, next) {
        seenBy.push(
          context.methodName,
          context.arguments,
          context.context.claims.role,
          context.context.userIdentifier,
          context.hub instanceof FilteredHub,
          context.hub.context === context.context,
        );
        return next();
      },
    };
    expect(await c.invoke('ADD', 2, 3)).toBe(5);
    expect(seenBy).toEqual(['Add', [2, 3], 'tester', 'grace', true, true]);
  });

  it('filters - a filter may change the result, or answer without calling next (the method does not run)', async () => {
    const c = await client();
    behaviour.filter = { invokeMethod: async (_context, next) => `${String(await next())}!` };
    expect(await c.invoke('Echo', 'hi')).toBe('hi!');
    trail.length = 0;
    behaviour.filter = { invokeMethod: () => 'from the filter' };
    expect(await c.invoke('Echo', 'hi')).toBe('from the filter');
    expect(trail).not.toContain('method Echo "hi"');
  });

  it('filters - a filter throwing HubError refuses the call with its message; other errors stay hidden', async () => {
    const c = await client();
    behaviour.filter = {
      invokeMethod() {
        throw new HubError('Not now.');
      },
    };
    await expect(c.invoke('Echo', 'hi')).rejects.toThrow(
      "An unexpected error occurred invoking 'Echo' on the server. HubException: Not now.",
    );
    behaviour.filter = {
      async invokeMethod() {
        throw new Error('filter internals');
      },
    };
    const error = await c.invoke('Echo', 'hi').catch((e: Error) => e);
    expect((error as Error).message).toBe("An unexpected error occurred invoking 'Echo' on the server.");
    expect(trail.filter((t) => t.startsWith('method'))).toEqual([]);
  });

  it("filters - a filter sees the method's own error through next() and may turn it into a result", async () => {
    const c = await client();
    behaviour.filter = {
      async invokeMethod(_context, next) {
        try {
          return await next();
        } catch (error) {
          return `caught ${(error as Error).message}`;
        }
      },
    };
    expect(await c.invoke('Fail')).toBe('caught method internals');
  });

  it('filters - next(context) with other arguments changes what the method receives', async () => {
    const c = await client();
    behaviour.filter = {
      invokeMethod: (context, next) =>
        next({ ...context, arguments: context.arguments.map((a) => (typeof a === 'number' ? a * 10 : a)) }),
    };
    expect(await c.invoke('Add', 1, 2)).toBe(30);
  });

  it('filters - a send (no invocation id) goes through the filters; a refusal sends nothing back', async () => {
    const c = await client();
    const shouted = nextCall(c, 'Shouted');
    await c.send('Shout', 'hey');
    expect(await shouted).toEqual(['hey']);
    expect(trail).toContain('global before Shout');
    behaviour.filter = {
      invokeMethod() {
        throw new HubError('No shouting.');
      },
    };
    await c.send('Shout', 'again');
    await expectNoCall(c, 'Shouted');
    behaviour.filter = undefined;
    expect(await c.invoke('Add', 1, 1)).toBe(2); // the connection is fine
  });

  it("filters - a server stream goes through the filters: next() returns the method's iterable, which a filter may replace", async () => {
    const c = await client();
    trail.length = 0;
    const items = async () => {
      const got: number[] = [];
      await new Promise<void>((resolve, reject) => {
        c.stream<number>('Count', 3).subscribe({
          next: (i) => got.push(i),
          complete: resolve,
          error: reject,
        });
      });
      return got;
    };
    expect(await items()).toEqual([1, 2, 3]);
    expect(trail).toEqual([
      'global before Count',
      'hub before Count',
      'hub after Count',
      'global after Count',
    ]);
    behaviour.filter = {
      async invokeMethod(_context, next) {
        const source = (await next()) as AsyncIterable<number>;
        return (async function* () {
          for await (const i of source) yield i * 100;
        })();
      },
    };
    expect(await items()).toEqual([100, 200, 300]);
    behaviour.filter = {
      invokeMethod() {
        throw new HubError('No streams today.');
      },
    };
    await expect(items()).rejects.toThrow(
      "An unexpected error occurred invoking 'Count' on the server. HubException: No streams today.",
    );
  });

  it('filters - a call with a client-to-server stream goes through the filters, the stream among the arguments', async () => {
    const c = await client();
    let streamArgument: unknown;
    behaviour.filter = {
      invokeMethod(context, next) {
        streamArgument = context.arguments[0];
        return next();
      },
    };
    const subject = new signalR.Subject<string>();
    const result = c.invoke('Upload', subject);
    subject.next('a');
    subject.next('b');
    subject.complete();
    expect(await result).toBe('ab');
    expect(typeof (streamArgument as AsyncIterable<string>)[Symbol.asyncIterator]).toBe('function');
    expect(trail).toContain('global before Upload');
  });

  it('filters - an onConnected filter throwing HubError ends the connection with its message in the Close', async () => {
    class Refusing extends Hub {
      static filters: HubFilter[] = [
        {
          onConnected() {
            throw new HubError('Go away.');
          },
        },
      ];
      Echo(value: unknown) {
        return value;
      }
    }
    const refusing = await startNode(new MemoryDriver({ bus: new MemoryBus() }), 'r1', {}, Refusing);
    try {
      // The Close may come with the handshake's answer (start fails) or just after it (the connection closes).
      const ended = await connectClient(refusing.url, { transport: 'WebSockets', protocol: 'json' }).then(
        (c) => new Promise<Error | undefined>((resolve) => c.onclose(resolve)),
        (error: Error) => error,
      );
      // A HubError's message reaches the client, as a hub's own onConnected throwing it does.
      expect(ended?.message).toBe(
        'Server returned an error on close: Connection closed with an error. HubException: Go away.',
      );
    } finally {
      await stopNode(refusing);
    }
  });

  it('filters - a filter that is not an object of functions makes mapHub throw', () => {
    class Bad extends Hub {
      static filters = [{ invokeMethod: 'nope' }] as unknown as HubFilter[];
    }
    const manager = node.manager;
    expect(() => new HubServer({ logger: quiet }).mapHub('/bad', Bad, manager)).toThrow(/hub filters/i);
    expect(() =>
      new HubServer({ logger: quiet, filters: [null as unknown as HubFilter] }).mapHub(
        '/bad',
        FilteredHub,
        manager,
      ),
    ).toThrow(/hub filters/i);
  });
});
