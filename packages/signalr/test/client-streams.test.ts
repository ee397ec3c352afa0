import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { waitFor } from '@backplane/testkit';
import * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientStream, type StreamFlow } from '../src/client-stream.js';
import { ClientStreamError, Hub } from '../src/index.js';
import { RawSocket, RS } from './raw-client.js';
import {
  connectClient,
  gate,
  type Node,
  type ProtocolName,
  SETTLE_MS,
  startNode,
  stopNode,
  type TransportName,
  WAIT_MS,
} from './two-nodes.js';

/** What the upload hub saw. */
const seen = {
  collected: [] as unknown[],
  /** How each `Watch` call's stream ended: 'done' or the error's name and message. */
  endings: [] as string[],
  /** Items `Slow` read, in order. */
  slow: [] as unknown[],
  gate: gate(),
  /** Resolved by `Slow` once it started (its stream is open). */
  started: gate(),
};

const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

class UploadHub extends Hub {
  /** One ordinary argument, then one stream. */
  async Join(label: string, items: AsyncIterable<unknown>) {
    const all: unknown[] = [];
    for await (const item of items) all.push(item);
    return `${label}:${all.join(',')}`;
  }
  /** Two streams around an ordinary argument on the client: `invoke('Zip', a, sep, b)`. */
  async Zip(separator: string, left: AsyncIterable<unknown>, right: AsyncIterable<unknown>) {
    const l: unknown[] = [];
    const r: unknown[] = [];
    for await (const item of left) l.push(item);
    for await (const item of right) r.push(item);
    return l.map((item, i) => `${String(item)}${separator}${String(r[i])}`);
  }
  /** For `send`: no answer, items recorded. */
  async Collect(items: AsyncIterable<unknown>) {
    for await (const item of items) seen.collected.push(item);
    seen.collected.push('end');
  }
  /** Reads its stream and says how it ended. */
  async Watch(items: AsyncIterable<unknown>) {
    try {
      for await (const _ of items) {
        // items are not kept
      }
      seen.endings.push('done');
      return 'done';
    } catch (error) {
      const e = error as ClientStreamError;
      seen.endings.push(`${e.name} ${e.code} ${e.reason}: ${e.message}`);
      return `caught: ${e.message}`;
    }
  }
  /** Lets the stream's error escape. */
  async Rethrow(items: AsyncIterable<unknown>) {
    for await (const _ of items) {
      // items are not kept
    }
  }
  /** Reads nothing until the test opens the gate. */
  async Slow(items: AsyncIterable<unknown>) {
    seen.started.open();
    await seen.gate.promise;
    for await (const item of items) seen.slow.push(item);
    return seen.slow.length;
  }
  /** Takes the first item only, then returns. */
  async First(items: AsyncIterable<unknown>) {
    for await (const item of items) return item;
    return null;
  }
  /** Upload in, stream out. */
  async *Double(items: AsyncIterable<number>, signal: AbortSignal) {
    for await (const item of items) {
      if (signal.aborted) return;
      yield item * 2;
    }
  }
  /** Upload in, stream out; records when it ends. */
  async *Relay(id: string, items: AsyncIterable<unknown>, _signal: AbortSignal) {
    try {
      for await (const item of items) yield item;
    } finally {
      seen.endings.push(`relay ${id} ended`);
    }
  }
  /** Upload in, stream out, after an ordinary argument and with no signal parameter. */
  async *Prefix(prefix: string, items: AsyncIterable<string>) {
    for await (const item of items) yield `${prefix}${item}`;
  }
  Echo(value: unknown) {
    return value;
  }
}

const nodes: Node[] = [];
const clients: signalR.HubConnection[] = [];
let node: Node;
let small: Node;

beforeAll(async () => {
  const bus = new MemoryBus();
  node = await startNode(new MemoryDriver({ bus }), 'up1', {}, UploadHub);
  small = await startNode(
    new MemoryDriver({ bus: new MemoryBus() }),
    'up2',
    { streamBufferCapacity: 4 },
    UploadHub,
  );
  nodes.push(node, small);
});
afterAll(async () => {
  await Promise.all(nodes.map(stopNode));
});
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
});

async function client(on: Node, transport: TransportName, protocol: ProtocolName) {
  const c = await connectClient(on.url, { transport, protocol });
  clients.push(c);
  return c;
}

/** Whether a promise is still pending after the settle time. */
async function pendingAfterSettle(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await settle();
  return !settled;
}

const MATRIX = [
  ['WebSockets', 'json'],
  ['WebSockets', 'messagepack'],
  ['ServerSentEvents', 'json'],
  ['LongPolling', 'json'],
  ['LongPolling', 'messagepack'],
] as const;

describe('client streams - official client', () => {
  for (const [transport, protocol] of MATRIX) {
    it(`client streams - items reach the method in order and the result follows the end (${transport}, ${protocol})`, async () => {
      const c = await client(node, transport, protocol);
      const subject = new signalR.Subject<number>();
      const result = c.invoke<string>('Join', 'n', subject);
      for (let i = 0; i < 20; i++) subject.next(i);
      // The method is still reading: no completion before the stream ends.
      expect(await pendingAfterSettle(result)).toBe(true);
      subject.complete();
      expect(await result).toBe(`n:${Array.from({ length: 20 }, (_, i) => i).join(',')}`);
    });

    it(`client streams - a method reading an upload streams results back (${transport}, ${protocol})`, async () => {
      const c = await client(node, transport, protocol);
      const subject = new signalR.Subject<number>();
      const items: number[] = [];
      const done = new Promise<void>((resolve, reject) => {
        c.stream<number>('Double', subject).subscribe({
          next: (i) => items.push(i),
          complete: resolve,
          error: reject,
        });
      });
      for (let i = 1; i <= 5; i++) subject.next(i);
      subject.complete();
      await done;
      expect(items).toEqual([2, 4, 6, 8, 10]);
    });
  }

  it('client streams - several streams and ordinary arguments: streams fill the last parameters in client order', async () => {
    const c = await client(node, 'WebSockets', 'json');
    const left = new signalR.Subject<string>();
    const right = new signalR.Subject<number>();
    const result = c.invoke<string[]>('Zip', left, '=', right);
    left.next('a');
    right.next(1);
    left.next('b');
    right.next(2);
    left.complete();
    right.complete();
    expect(await result).toEqual(['a=1', 'b=2']);
  });

  it('client streams - an ordinary argument after the stream on the client still binds first', async () => {
    const c = await client(node, 'LongPolling', 'json');
    const subject = new signalR.Subject<string>();
    const result = c.invoke<string>('Join', subject, 'late');
    subject.next('x');
    subject.complete();
    expect(await result).toBe('late:x');
  });

  it('client streams - send() with a stream runs the method, which reads every item', async () => {
    const c = await client(node, 'WebSockets', 'messagepack');
    const subject = new signalR.Subject<string>();
    seen.collected.length = 0;
    await c.send('Collect', subject);
    subject.next('p');
    subject.next('q');
    subject.complete();
    await waitFor(() => seen.collected.includes('end'), { name: 'Collect to end', timeoutMs: WAIT_MS });
    expect(seen.collected).toEqual(['p', 'q', 'end']);
  });

  it('client streams - a server stream with an ordinary argument and no signal parameter', async () => {
    const c = await client(node, 'ServerSentEvents', 'json');
    const subject = new signalR.Subject<string>();
    const items: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      c.stream<string>('Prefix', '>', subject).subscribe({
        next: (i) => items.push(i),
        complete: resolve,
        error: reject,
      });
    });
    subject.next('a');
    subject.next('b');
    subject.complete();
    await done;
    expect(items).toEqual(['>a', '>b']);
  });

  it('client streams - cancelling a server stream ends the method even while it waits for an upload item', async () => {
    const c = await client(node, 'WebSockets', 'json');
    const subject = new signalR.Subject<string>();
    const items: string[] = [];
    const subscription = c.stream<string>('Relay', 'r1', subject).subscribe({
      next: (i) => items.push(i),
      complete: () => {},
      error: () => {},
    });
    subject.next('only');
    await waitFor(() => items.length === 1, { name: 'the relayed item', timeoutMs: WAIT_MS });
    // The method now waits for the next upload item, which never comes.
    subscription.dispose();
    await waitFor(() => seen.endings.includes('relay r1 ended'), {
      name: 'the method to end',
      timeoutMs: WAIT_MS,
    });
    expect(await c.invoke('Echo', 'after')).toBe('after');
  });

  it('client streams - the client erroring its subject makes the iterator throw ClientStreamError with its message', async () => {
    const c = await client(node, 'WebSockets', 'json');
    const subject = new signalR.Subject<number>();
    const result = c.invoke<string>('Watch', subject);
    subject.next(1);
    subject.error(new Error('client gave up'));
    expect(await result).toBe('caught: client gave up');
    expect(seen.endings).toContain('ClientStreamError ERR_HUB client-error: client gave up');
  });

  it('client streams - an uncaught stream error is hidden from the caller like any non-HubError', async () => {
    const c = await client(node, 'LongPolling', 'messagepack');
    const subject = new signalR.Subject<number>();
    const result = c.invoke('Rethrow', subject);
    subject.error(new Error('client secret'));
    await expect(result).rejects.toThrow(/^An unexpected error occurred invoking 'Rethrow' on the server\.$/);
  });

  it('client streams - a connection that closes ends its open streams with an error in the method', async () => {
    const c = await connectClient(node.url, { transport: 'WebSockets', protocol: 'json' });
    const subject = new signalR.Subject<number>();
    const before = seen.endings.length;
    c.invoke('Watch', subject).catch(() => {});
    subject.next(1);
    // The stream is open once the server answers a later call (calls with streams run at once).
    expect(await c.invoke('Echo', 'ready')).toBe('ready');
    await c.stop();
    await waitFor(() => seen.endings.length > before, { name: 'the stream to end', timeoutMs: WAIT_MS });
    expect(seen.endings.at(-1)).toBe(
      'ClientStreamError ERR_CONNECTION_DISCONNECTED disconnected: The underlying connection was closed.',
    );
  });

  it('client streams - a call reading a stream does not hold back the client’s other calls', async () => {
    const c = await client(node, 'WebSockets', 'json');
    const subject = new signalR.Subject<number>();
    const joined = c.invoke<string>('Join', 'j', subject);
    // One call at a time per client (the default), yet Echo answers while Join still reads.
    expect(await c.invoke('Echo', 'meanwhile')).toBe('meanwhile');
    subject.next(7);
    subject.complete();
    expect(await joined).toBe('j:7');
  });

  it('client streams - items after the method returned are ignored and the connection goes on', async () => {
    const c = await client(node, 'WebSockets', 'messagepack');
    const subject = new signalR.Subject<string>();
    const first = c.invoke('First', subject);
    subject.next('one');
    expect(await first).toBe('one');
    for (let i = 0; i < 50; i++) subject.next(`late ${i}`);
    subject.complete();
    expect(await c.invoke('Echo', 'still here')).toBe('still here');
  });

  it('client streams - a stream count the method does not take is refused with SignalR’s message', async () => {
    const c = await client(node, 'WebSockets', 'json');
    const extra = new signalR.Subject<number>();
    await expect(c.invoke('Echo', 'x', extra)).rejects.toThrow(
      "An unexpected error occurred invoking 'Echo' on the server. HubException: Client sent 1 stream(s), Hub method expects 0.",
    );
    const a = new signalR.Subject<number>();
    const b = new signalR.Subject<number>();
    await expect(c.invoke('Join', a, 'label', b)).rejects.toThrow(
      "An unexpected error occurred invoking 'Join' on the server. HubException: Client sent 2 stream(s), Hub method expects 1.",
    );
  });

  for (const transport of ['WebSockets', 'LongPolling'] as const) {
    it(`client streams - backpressure: a full stream stops reading the client until the method reads (${transport})`, async () => {
      const c = await client(small, transport, 'json');
      seen.gate = gate();
      seen.started = gate();
      seen.slow.length = 0;
      const pausesBefore = small.hubs.stats.receivePauses;
      const subject = new signalR.Subject<number>();
      const count = c.invoke<number>('Slow', subject);
      await seen.started.promise;
      for (let i = 0; i < 40; i++) subject.next(i);
      await waitFor(() => small.hubs.stats.receivePauses > pausesBefore, {
        name: 'the full stream to pause reading',
        timeoutMs: WAIT_MS,
      });
      // Behind a full stream (capacity 4), the client's next call is not even read.
      const echo = c.invoke('Echo', 'behind the stream');
      expect(await pendingAfterSettle(echo)).toBe(true);
      seen.gate.open();
      expect(await echo).toBe('behind the stream');
      subject.complete();
      expect(await count).toBe(40);
      expect(seen.slow).toEqual(Array.from({ length: 40 }, (_, i) => i));
    });
  }
});

/** Sends one JSON hub message. */
const send = (c: RawSocket, message: Record<string, unknown>) => c.send(`${JSON.stringify(message)}${RS}`);

describe('client streams - raw protocol', () => {
  it('client streams - adjacent stream ids bind in order and items interleave', async () => {
    const c = await RawSocket.handshaken(node.url);
    send(c, { type: 1, invocationId: 'z', target: 'Zip', arguments: ['-'], streamIds: ['a', 'b'] });
    send(c, { type: 2, invocationId: 'b', item: 1 });
    send(c, { type: 2, invocationId: 'a', item: 'x' });
    send(c, { type: 2, invocationId: 'a', item: 'y' });
    send(c, { type: 3, invocationId: 'a' });
    send(c, { type: 2, invocationId: 'b', item: 2 });
    send(c, { type: 3, invocationId: 'b' });
    expect(await c.nextNonPing()).toEqual({ type: 3, invocationId: 'z', result: ['x-1', 'y-2'] });
    c.close();
  });

  it('client streams - a stream id already open, or twice in one call, is refused', async () => {
    const c = await RawSocket.handshaken(node.url);
    send(c, { type: 1, invocationId: 'w1', target: 'Join', arguments: ['l'], streamIds: ['s'] });
    send(c, { type: 1, invocationId: 'w2', target: 'Join', arguments: ['l'], streamIds: ['s'] });
    expect(await c.nextNonPing()).toEqual({
      type: 3,
      invocationId: 'w2',
      error: "Stream ID 's' is already in use.",
    });
    send(c, { type: 1, invocationId: 'w3', target: 'Zip', arguments: ['-'], streamIds: ['t', 't'] });
    expect(await c.nextNonPing()).toEqual({
      type: 3,
      invocationId: 'w3',
      error: "Stream ID 't' is already in use.",
    });
    // The first call still has its stream.
    send(c, { type: 2, invocationId: 's', item: 'ok' });
    send(c, { type: 3, invocationId: 's' });
    expect(await c.nextNonPing()).toEqual({ type: 3, invocationId: 'w1', result: 'l:ok' });
    c.close();
  });

  it('client streams - a missing stream is an argument count error, as the stream fills a parameter', async () => {
    const c = await RawSocket.handshaken(node.url);
    send(c, { type: 1, invocationId: 'm', target: 'Join', arguments: ['only'] });
    expect(await c.nextNonPing()).toEqual({
      type: 3,
      invocationId: 'm',
      error: "Failed to invoke 'Join' due to an error on the server.",
    });
    c.close();
  });

  it('client streams - items and completions for unknown streams are ignored', async () => {
    const c = await RawSocket.handshaken(node.url);
    send(c, { type: 2, invocationId: 'nobody', item: 1 });
    send(c, { type: 3, invocationId: 'nobody', error: 'x' });
    send(c, { type: 1, invocationId: 'e', target: 'Echo', arguments: [1] });
    expect(await c.nextNonPing()).toEqual({ type: 3, invocationId: 'e', result: 1 });
    c.close();
  });
});

describe('client streams - buffer', () => {
  function flow() {
    const calls: string[] = [];
    const f: StreamFlow = {
      full: () => calls.push('full'),
      drained: () => calls.push('drained'),
    };
    return { calls, f };
  }

  it('client streams - the buffer reports full at capacity and drained at half', async () => {
    const { calls, f } = flow();
    const stream = new ClientStream('s', 4, f);
    for (let i = 0; i < 4; i++) stream.push(i);
    expect(calls).toEqual(['full']);
    expect((await stream.next()).value).toBe(0);
    expect(calls).toEqual(['full']); // 3 left: above half
    expect((await stream.next()).value).toBe(1);
    expect(calls).toEqual(['full', 'drained']); // 2 left: half
    stream.complete();
    expect(await stream.next()).toEqual({ done: false, value: 2 });
    expect(await stream.next()).toEqual({ done: false, value: 3 });
    expect((await stream.next()).done).toBe(true);
  });

  it('client streams - an error completion is thrown once, after the buffered items', async () => {
    const stream = new ClientStream('s', 10, flow().f);
    stream.push('a');
    stream.complete(new ClientStreamError('s', 'client-error', 'boom'));
    stream.push('ignored');
    expect((await stream.next()).value).toBe('a');
    await expect(stream.next()).rejects.toThrow('boom');
    expect((await stream.next()).done).toBe(true);
  });

  it('client streams - a waiting reader gets the item at once, and the end', async () => {
    const stream = new ClientStream('s', 1, flow().f);
    const pending = stream.next();
    stream.push('now');
    expect(await pending).toEqual({ done: false, value: 'now' });
    const end = stream.next();
    stream.complete();
    expect((await end).done).toBe(true);
  });

  it('client streams - a reader that stops drops the buffer and releases the hold', async () => {
    const { calls, f } = flow();
    const stream = new ClientStream('s', 2, f);
    stream.push(1);
    stream.push(2);
    await stream.return();
    stream.push(3);
    expect(calls).toEqual(['full', 'drained']);
    expect((await stream.next()).done).toBe(true);
  });
});
