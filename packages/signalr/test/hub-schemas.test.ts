import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { waitFor } from '@backplane/testkit';
import * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Hub,
  type HubFilter,
  HubServer,
  type MethodAuthorization,
  type MethodSchemas,
  type StandardSchemaV1,
} from '../src/index.js';
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

/** A Standard Schema v1 validator made by hand, as zod, valibot or arktype make them. */
function validator<T>(
  check: (
    value: unknown,
  ) =>
    | { value: T }
    | { issues: { message: string }[] }
    | Promise<{ value: T } | { issues: { message: string }[] }>,
): StandardSchemaV1<unknown, T> {
  return { '~standard': { version: 1, vendor: 'test', validate: check } };
}

const text = validator((v) =>
  typeof v === 'string' ? { value: v } : { issues: [{ message: 'Expected a string' }] },
);
/** Trims: the method receives the transformed value. */
const trimmed = validator((v) =>
  typeof v === 'string' ? { value: v.trim() } : { issues: [{ message: 'Expected a string' }] },
);
/** Asynchronous, as some validators are. */
const positive = validator(async (v) =>
  typeof v === 'number' && v > 0 ? { value: v } : { issues: [{ message: 'Expected a positive number' }] },
);
const throwing = validator(() => {
  throw new Error('validator internals');
});

const BINDING_ERROR =
  'InvalidDataException: Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.';

const ran: unknown[][] = [];
const filtered: unknown[][] = [];

class TypedHub extends Hub {
  static schemas = {
    Greet: [text, trimmed],
    add: [positive, positive],
    Notify: [text],
    Count: [positive],
    Upload: [text],
    Loose: [undefined, text],
    Broken: [throwing],
    Guarded: [text],
  } satisfies MethodSchemas;
  static methodAuthorization = { Guarded: () => false } satisfies MethodAuthorization;
  static filters: HubFilter[] = [
    {
      invokeMethod(context, next) {
        filtered.push([context.methodName, ...context.arguments.filter((a) => !(a instanceof AbortSignal))]);
        return next();
      },
    },
  ];
  Greet(greeting: string, name: string) {
    ran.push(['Greet', greeting, name]);
    return `${greeting}, ${name}`;
  }
  Add(a: number, b: number) {
    ran.push(['Add', a, b]);
    return a + b;
  }
  async Notify(message: string) {
    ran.push(['Notify', message]);
    await this.clients.caller.send('Notified', message);
  }
  async *Count(to: number, signal: AbortSignal) {
    for (let i = 1; i <= to && !signal.aborted; i++) yield i;
  }
  async Upload(name: string, chunks: AsyncIterable<string>) {
    let all = '';
    for await (const chunk of chunks) all += chunk;
    return `${name}: ${all}`;
  }
  Loose(anything: unknown, label: string) {
    return [anything, label];
  }
  Broken(value: unknown) {
    ran.push(['Broken', value]);
  }
  Guarded(value: string) {
    ran.push(['Guarded', value]);
  }
  Untyped(value: unknown) {
    return value;
  }
}

const logged: Array<{ message: string; fields: Record<string, unknown> | undefined }> = [];
const logger = {
  ...quiet,
  debug(message: string, fields?: Record<string, unknown>) {
    logged.push({ message, fields });
  },
};

let node: Node;
let detailed: Node;
const clients: signalR.HubConnection[] = [];
beforeAll(async () => {
  // Every combination's refusals are logged: enough room that the send test still sees its own line.
  node = await startNode(
    new MemoryDriver({ bus: new MemoryBus() }),
    'n1',
    { logger, logLimits: { rateLimit: 1_000 } },
    TypedHub,
  );
  detailed = await startNode(
    new MemoryDriver({ bus: new MemoryBus() }),
    'd1',
    { enableDetailedErrors: true },
    TypedHub,
  );
});
afterAll(async () => {
  await Promise.all([stopNode(node), stopNode(detailed)]);
});
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
  ran.length = 0;
  filtered.length = 0;
  logged.length = 0;
});

async function client(
  target = node,
  { transport, protocol }: Combination = { transport: 'WebSockets', protocol: 'json' },
): Promise<signalR.HubConnection> {
  const c = await connectClient(target.url, { transport, protocol });
  clients.push(c);
  return c;
}

function stream(c: signalR.HubConnection, method: string, ...args: unknown[]): Promise<unknown[]> {
  const items: unknown[] = [];
  return new Promise((resolve, reject) => {
    c.stream(method, ...args).subscribe({
      next: (i) => items.push(i),
      complete: () => resolve(items),
      error: reject,
    });
  });
}

describe.each(MATRIX)('hub argument schemas ($transport, $protocol)', (combination) => {
  const tag = `(${combination.transport}, ${combination.protocol})`;

  it(`schemas - arguments that do not validate answer SignalR's binding failure and nothing runs ${tag}`, async () => {
    const c = await client(node, combination);
    await expect(c.invoke('Greet', 'hello', 42)).rejects.toThrow(
      /^Failed to invoke 'Greet' due to an error on the server\.$/,
    );
    await expect(c.invoke('ADD', 1, -1)).rejects.toThrow(
      /^Failed to invoke 'ADD' due to an error on the server\.$/,
    );
    await expect(c.invoke('Greet', { toString: 'x' }, 'ada')).rejects.toThrow('Failed to invoke');
    expect(ran).toEqual([]);
    expect(filtered).toEqual([]);
    expect(await c.invoke('Untyped', 7)).toBe(7); // the connection goes on
  });

  it(`schemas - with enableDetailedErrors the binding failure says InvalidDataException: Error binding arguments ${tag}`, async () => {
    const c = await client(detailed, combination);
    await expect(c.invoke('Greet', 1, 'ada')).rejects.toThrow(
      `Failed to invoke 'Greet' due to an error on the server. ${BINDING_ERROR}`,
    );
  });

  it(`schemas - the method and the filters receive the values the validators returned; async validators work ${tag}`, async () => {
    const c = await client(node, combination);
    expect(await c.invoke('Greet', 'hello', '  ada  ')).toBe('hello, ada');
    expect(await c.invoke('Add', 2, 3)).toBe(5);
    expect(ran).toEqual([
      ['Greet', 'hello', 'ada'],
      ['Add', 2, 3],
    ]);
    expect(filtered).toEqual([
      ['Greet', 'hello', 'ada'],
      ['Add', 2, 3],
    ]);
    // undefined leaves an argument unchecked.
    expect(await c.invoke('Loose', { any: 'thing' }, 'label')).toEqual([{ any: 'thing' }, 'label']);
    await expect(c.invoke('Loose', { any: 'thing' }, 1)).rejects.toThrow('Failed to invoke');
  });
});

describe('hub argument schemas - skipped', () => skipUnsupportedCombinations('schemas'));

describe('hub argument schemas', () => {
  it('schemas - a send whose arguments do not validate gets nothing back, runs nothing and is logged', async () => {
    const c = await client();
    await c.send('Notify', 123);
    await expectNoCall(c, 'Notified');
    expect(ran).toEqual([]);
    await waitFor(() => logged.some((l) => l.message === 'Hub method arguments refused'), {
      name: 'the log line',
      timeoutMs: WAIT_MS,
    });
    expect(logged.find((l) => l.message === 'Hub method arguments refused')?.fields).toMatchObject({
      target: 'Notify',
      argument: 0,
      issues: ['Expected a string'],
    });
    const notified = nextCall(c, 'Notified');
    await c.send('Notify', 'fine');
    expect(await notified).toEqual(['fine']);
  });

  it('schemas - stream invocations and calls with client-to-server streams are validated; the streams themselves are not arguments', async () => {
    const c = await client();
    expect(await stream(c, 'Count', 3)).toEqual([1, 2, 3]);
    await expect(stream(c, 'Count', 'three')).rejects.toThrow(
      /^Failed to invoke 'Count' due to an error on the server\.$/,
    );
    const subject = new signalR.Subject<string>();
    const upload = c.invoke('Upload', 'notes', subject);
    subject.next('a');
    subject.next('b');
    subject.complete();
    expect(await upload).toBe('notes: ab');
    const refused = new signalR.Subject<string>();
    const bad = c.invoke('Upload', 99, refused);
    await expect(bad).rejects.toThrow("Failed to invoke 'Upload' due to an error on the server.");
    refused.complete();
    expect(await c.invoke('Untyped', 'still fine')).toBe('still fine');
  });

  it('schemas - arguments are bound before the call is authorized, as in SignalR', async () => {
    const c = await client();
    await expect(c.invoke('Guarded', 1)).rejects.toThrow(
      "Failed to invoke 'Guarded' due to an error on the server.",
    );
    await expect(c.invoke('Guarded', 'ok')).rejects.toThrow(
      "Failed to invoke 'Guarded' because user is unauthorized",
    );
    expect(ran).toEqual([]);
  });

  it('schemas - a validator that throws is a binding failure too', async () => {
    const c = await client(detailed);
    await expect(c.invoke('Broken', 1)).rejects.toThrow(
      `Failed to invoke 'Broken' due to an error on the server. ${BINDING_ERROR}`,
    );
    expect(ran).toEqual([]);
  });

  it('schemas - an entry naming no method, one that is not a list of Standard Schema validators, or one longer than the parameters makes mapHub throw', () => {
    const map = (schemas: unknown) => {
      class Declared extends Hub {
        static schemas = schemas as MethodSchemas;
        Say(_words: string) {}
        async *Tick(_n: number, _signal: AbortSignal) {}
      }
      return new HubServer({ logger: quiet }).mapHub('/x', Declared, node.manager);
    };
    expect(() => map({ Sya: [text] })).toThrow("Declared.schemas names 'Sya', which is not a method");
    expect(() => map({ Say: text })).toThrow(
      'Declared.schemas.Say must be an array of Standard Schema validators',
    );
    expect(() => map({ Say: [{ validate: () => true }] })).toThrow(
      'must be an array of Standard Schema validators',
    );
    expect(() => map({ Say: [text, text] })).toThrow(
      'Declared.schemas.Say has 2 validators but the method takes 1',
    );
    // The AbortSignal of an `async *` method is not the client's.
    expect(() => map({ Tick: [positive, positive] })).toThrow('takes 1 argument(s)');
    expect(() => map({ say: [text], tick: [positive] })).not.toThrow();
  });
});
