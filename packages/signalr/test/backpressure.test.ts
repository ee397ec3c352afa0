import { type HubMessage, JsonHubProtocol } from '@backplane/hub-protocol';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import { waitFor } from '@backplane/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub } from '../src/index.js';
import { RawSocket, RS } from './raw-client.js';
import { gate, type Node, SETTLE_MS, startNode, stopNode } from './two-nodes.js';

/** Opened by a test to let `Block` calls return. */
let blocked = gate();
/** When set, `onConnected` waits for it. */
let connecting: ReturnType<typeof gate> | undefined;
/** The indexes `Record` saw, in call order. */
const recorded: number[] = [];

class PressureHub extends Hub {
  override async onConnected() {
    await connecting?.promise;
  }
  async Block() {
    await blocked.promise;
  }
  Record(index: number, _padding: string) {
    recorded.push(index);
    return index;
  }
}

/** The JSON protocol, counting the hub messages the server parsed (how much of a flood it holds). */
class CountingJsonProtocol extends JsonHubProtocol {
  parsed = 0;
  override parseMessages(data: Uint8Array): HubMessage[] {
    const messages = super.parseMessages(data);
    this.parsed += messages.length;
    return messages;
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

/** The next `count` JSON records from a raw socket (pings skipped; a frame may carry several records). */
async function readRecords(c: RawSocket, count: number): Promise<Array<Record<string, unknown>>> {
  const records: Array<Record<string, unknown>> = [];
  while (records.length < count) {
    const frame = String(await c.next());
    for (const text of frame.split(RS)) {
      if (!text) continue;
      const record = JSON.parse(text) as Record<string, unknown>;
      if (record.type !== 6) records.push(record);
    }
  }
  return records;
}

const invocation = (id: string, target: string, args: string) =>
  `{"type":1,"invocationId":"${id}","target":"${target}","arguments":[${args}]}${RS}`;

describe('backpressure - invocations', () => {
  const QUEUE_BOUND = 8;
  const FLOOD = 500;
  const PADDING = 'x'.repeat(30_000);
  const indexes = Array.from({ length: FLOOD }, (_, i) => i);
  const json = new CountingJsonProtocol();
  let node: Node;

  beforeAll(async () => {
    node = await startNode(
      new MemoryDriver({ bus: new MemoryBus() }),
      'p1',
      { protocols: [json], maximumQueuedInvocationsPerClient: QUEUE_BOUND },
      PressureHub,
    );
  });
  afterAll(async () => {
    blocked.open();
    connecting?.open();
    await stopNode(node);
  });

  it('backpressure - a flood behind a blocked call is not read past the queue bound, and every call runs in order once unblocked', async () => {
    blocked = gate();
    recorded.length = 0;
    const c = await RawSocket.handshaken(node.url);
    const parsedBefore = json.parsed;
    c.send(invocation('block', 'Block', ''));
    for (let i = 0; i < FLOOD; i++) c.send(invocation(String(i), 'Record', `${i},"${PADDING}"`));
    // The running call plus the bounded queue: what the server may have parsed while the call is blocked.
    const parseBound = 1 + QUEUE_BOUND;
    await waitFor(() => json.parsed - parsedBefore > parseBound || node.hubs.stats.receivePauses > 0, {
      name: 'the server to read past the bound or pause',
    });
    await settle();
    expect(json.parsed - parsedBefore).toBeLessThanOrEqual(parseBound);
    expect(c.ws.bufferedAmount).toBeGreaterThan(0); // the rest waits on the client's side
    expect(node.hubs.stats.receivePauses).toBeGreaterThan(0);

    blocked.open();
    const records = await readRecords(c, FLOOD + 1);
    expect(records.map((r) => r.invocationId)).toEqual(['block', ...indexes.map(String)]);
    expect(records.slice(1).map((r) => r.result)).toEqual(indexes);
    expect(recorded).toEqual(indexes);
    c.close();
  });

  it('backpressure - long polling: a POST that fills the queue is answered only once the queue drained; another meanwhile gets 409', async () => {
    blocked = gate();
    recorded.length = 0;
    const negotiated = await fetch(`${node.url}/chat/negotiate?negotiateVersion=1`, { method: 'POST' });
    const { connectionToken } = (await negotiated.json()) as { connectionToken: string };
    const url = `${node.url}/chat?id=${encodeURIComponent(connectionToken)}`;
    expect((await fetch(url)).status).toBe(200); // the first poll, answered at once
    const post = (body: string) => fetch(url, { method: 'POST', body });
    expect((await post(`{"protocol":"json","version":1}${RS}`)).status).toBe(200);
    expect((await post(invocation('block', 'Block', ''))).status).toBe(200);
    const count = QUEUE_BOUND + 2;
    let answered = false;
    const flood = post(
      indexes
        .slice(0, count)
        .map((i) => invocation(String(i), 'Record', `${i},""`))
        .join(''),
    );
    void flood.then(() => {
      answered = true;
    });
    await settle();
    expect(answered).toBe(false);
    expect((await post(invocation('x', 'Record', '-1,""'))).status).toBe(409);

    blocked.open();
    expect((await flood).status).toBe(200);
    const results: unknown[] = [];
    while (results.length < count + 1) {
      const poll = await fetch(url);
      for (const text of (await poll.text()).split(RS)) {
        if (!text) continue;
        const record = JSON.parse(text) as { type: number; invocationId?: string; result?: unknown };
        if (record.type === 3) results.push(record.invocationId === 'block' ? 'block' : record.result);
      }
    }
    expect(results).toEqual(['block', ...indexes.slice(0, count)]);
    expect(recorded).toEqual(indexes.slice(0, count));
    await fetch(url, { method: 'DELETE' });
  });

  it('backpressure - nothing is parsed while onConnected runs; what was sent meanwhile runs in order after it', async () => {
    connecting = gate();
    recorded.length = 0;
    const c = await RawSocket.handshaken(node.url);
    const parsedBefore = json.parsed;
    for (let i = 0; i < 50; i++) c.send(invocation(String(i), 'Record', `${i},"${PADDING}"`));
    await settle();
    expect(json.parsed - parsedBefore).toBe(0);

    connecting.open();
    const records = await readRecords(c, 50);
    expect(records.map((r) => r.result)).toEqual(indexes.slice(0, 50));
    expect(recorded).toEqual(indexes.slice(0, 50));
    connecting = undefined;
    c.close();
  });
});

describe('backpressure - no queue', () => {
  const FLOOD = 100;
  const CLIENT_TIMEOUT_MS = 400;
  /** Negative check: how long a paused client that sends nothing stays connected, past its timeout. */
  const PAUSED_SETTLE_MS = CLIENT_TIMEOUT_MS * 3;
  const PADDING = 'x'.repeat(30_000);
  const indexes = Array.from({ length: FLOOD }, (_, i) => i);
  const json = new CountingJsonProtocol();
  let node: Node;

  beforeAll(async () => {
    node = await startNode(
      new MemoryDriver({ bus: new MemoryBus() }),
      'p2',
      { protocols: [json], maximumQueuedInvocationsPerClient: 0, clientTimeoutInterval: CLIENT_TIMEOUT_MS },
      PressureHub,
    );
  });
  afterAll(async () => {
    blocked.open();
    await stopNode(node);
  });

  it('backpressure - with maximumQueuedInvocationsPerClient 0 nothing is read while the slot is taken, the client is not timed out meanwhile, and every call still runs in order', async () => {
    blocked = gate();
    recorded.length = 0;
    const c = await RawSocket.handshaken(node.url);
    c.send(invocation('block', 'Block', ''));
    for (let i = 0; i < FLOOD; i++) c.send(invocation(String(i), 'Record', `${i},"${PADDING}"`));
    await waitFor(() => json.parsed > 1 || node.hubs.stats.receivePauses > 0, {
      name: 'the server to read past the running call or pause',
    });
    await new Promise((resolve) => setTimeout(resolve, PAUSED_SETTLE_MS));
    expect(json.parsed).toBe(1);
    expect(c.frames.some((f) => String(f).includes('"type":7'))).toBe(false); // no Close

    blocked.open();
    const records = await readRecords(c, FLOOD + 1);
    expect(records.map((r) => r.invocationId)).toEqual(['block', ...indexes.map(String)]);
    expect(recorded).toEqual(indexes);
    c.close();
  });
});
