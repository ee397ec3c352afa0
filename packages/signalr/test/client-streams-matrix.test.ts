import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { waitFor } from '@backplane/testkit';
import * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MATRIX, skipUnsupportedCombinations } from './support/matrix.js';
import { pendingAfterSettle, seen, UploadHub } from './support/upload-hub.js';
import { connectClient, gate, type Node, startNode, stopNode, WAIT_MS } from './two-nodes.js';

// Every upload-stream capability with the official client, over every transport and hub protocol.

/** The stream buffer of the `small` node, in items. */
const SMALL_CAPACITY = 4;

let node: Node;
let small: Node;
const clients: signalR.HubConnection[] = [];

beforeAll(async () => {
  node = await startNode(new MemoryDriver({ bus: new MemoryBus() }), 'up1', {}, UploadHub);
  small = await startNode(
    new MemoryDriver({ bus: new MemoryBus() }),
    'up2',
    { streamBufferCapacity: SMALL_CAPACITY },
    UploadHub,
  );
});
afterAll(async () => {
  await Promise.all([node, small].filter(Boolean).map(stopNode));
});
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
});

describe.each(MATRIX)('client streams ($transport, $protocol)', ({ transport, protocol }) => {
  const tag = `(${transport}, ${protocol})`;
  async function client(on = node) {
    const c = await connectClient(on.url, { transport, protocol });
    clients.push(c);
    return c;
  }

  it(`client streams - items reach the method in order and the result follows the end ${tag}`, async () => {
    const c = await client();
    const subject = new signalR.Subject<number>();
    const result = c.invoke<string>('Join', 'n', subject);
    for (let i = 0; i < 20; i++) subject.next(i);
    // The method is still reading: no completion before the stream ends.
    expect(await pendingAfterSettle(result)).toBe(true);
    subject.complete();
    expect(await result).toBe(`n:${Array.from({ length: 20 }, (_, i) => i).join(',')}`);
  });

  it(`client streams - several streams with an ordinary argument between them: streams fill the last parameters in client order ${tag}`, async () => {
    const c = await client();
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

  it(`client streams - send() with a stream runs the method, which reads every item ${tag}`, async () => {
    const c = await client();
    const subject = new signalR.Subject<string>();
    seen.collected.length = 0;
    await c.send('Collect', subject);
    subject.next('p');
    subject.next('q');
    subject.complete();
    await waitFor(() => seen.collected.includes('end'), { name: 'Collect to end', timeoutMs: WAIT_MS });
    expect(seen.collected).toEqual(['p', 'q', 'end']);
  });

  it(`client streams - a method reading an upload streams results back ${tag}`, async () => {
    const c = await client();
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

  it(`client streams - the client erroring its subject makes the iterator throw ClientStreamError with its message ${tag}`, async () => {
    const c = await client();
    const subject = new signalR.Subject<number>();
    const result = c.invoke<string>('Watch', subject);
    subject.next(1);
    subject.error(new Error(`client gave up ${tag}`));
    expect(await result).toBe(`caught: client gave up ${tag}`);
    expect(seen.endings).toContain(`ClientStreamError ERR_HUB client-error: client gave up ${tag}`);
  });

  it(`client streams - an uncaught stream error is hidden from the caller like any non-HubError ${tag}`, async () => {
    const c = await client();
    const subject = new signalR.Subject<number>();
    const result = c.invoke('Rethrow', subject);
    subject.error(new Error('client secret'));
    await expect(result).rejects.toThrow(/^An unexpected error occurred invoking 'Rethrow' on the server\.$/);
  });

  it(`client streams - a connection that closes ends its open streams with an error in the method ${tag}`, async () => {
    const c = await client();
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

  it(`client streams - a stream count the method does not take is refused with SignalR’s message ${tag}`, async () => {
    const c = await client();
    await expect(c.invoke('Echo', 'x', new signalR.Subject<number>())).rejects.toThrow(
      "An unexpected error occurred invoking 'Echo' on the server. HubException: Client sent 1 stream(s), Hub method expects 0.",
    );
    await expect(
      c.invoke('Join', new signalR.Subject<number>(), 'label', new signalR.Subject<number>()),
    ).rejects.toThrow(
      "An unexpected error occurred invoking 'Join' on the server. HubException: Client sent 2 stream(s), Hub method expects 1.",
    );
    expect(await c.invoke('Echo', 'still open')).toBe('still open');
  });

  it(`client streams - backpressure: a full stream stops reading the client until the method reads ${tag}`, async () => {
    const c = await client(small);
    seen.gate = gate();
    seen.started = gate();
    seen.slow.length = 0;
    const pausesBefore = small.hubs.stats.receivePauses;
    const subject = new signalR.Subject<number>();
    const count = c.invoke<number>('Slow', subject);
    await seen.started.promise;
    for (let i = 0; i < SMALL_CAPACITY * 10; i++) subject.next(i);
    await waitFor(() => small.hubs.stats.receivePauses > pausesBefore, {
      name: 'the full stream to pause reading',
      timeoutMs: WAIT_MS,
    });
    // Behind a full stream, the client's next call is not even read.
    const echo = c.invoke('Echo', 'behind the stream');
    expect(await pendingAfterSettle(echo)).toBe(true);
    seen.gate.open();
    expect(await echo).toBe('behind the stream');
    subject.complete();
    expect(await count).toBe(SMALL_CAPACITY * 10);
    expect(seen.slow).toEqual(Array.from({ length: SMALL_CAPACITY * 10 }, (_, i) => i));
  });
});

describe('client streams - skipped', () => skipUnsupportedCombinations('client streams'));
