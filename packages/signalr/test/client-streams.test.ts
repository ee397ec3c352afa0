import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { waitFor } from '@backplane/testkit';
import * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientStream, type StreamFlow } from '../src/client-stream.js';
import { ClientStreamError } from '../src/index.js';
import { RawSocket, RS } from './raw-client.js';
import { seen, UploadHub } from './support/upload-hub.js';
import {
  connectClient,
  type Node,
  type ProtocolName,
  startNode,
  stopNode,
  type TransportName,
  WAIT_MS,
} from './two-nodes.js';

// What one combination shows; every upload capability over every transport and protocol is in
// client-streams-matrix.test.ts.

const clients: signalR.HubConnection[] = [];
let node: Node;

beforeAll(async () => {
  node = await startNode(new MemoryDriver({ bus: new MemoryBus() }), 'up1', {}, UploadHub);
});
afterAll(() => stopNode(node));
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
});

async function client(on: Node, transport: TransportName, protocol: ProtocolName) {
  const c = await connectClient(on.url, { transport, protocol });
  clients.push(c);
  return c;
}

describe('client streams - official client', () => {
  it('client streams - an ordinary argument after the stream on the client still binds first', async () => {
    const c = await client(node, 'LongPolling', 'json');
    const subject = new signalR.Subject<string>();
    const result = c.invoke<string>('Join', subject, 'late');
    subject.next('x');
    subject.complete();
    expect(await result).toBe('late:x');
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
