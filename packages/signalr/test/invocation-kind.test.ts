import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSocket, RS } from './raw-client.js';
import { type Node, seen, startMemoryNodes, stopNode } from './two-nodes.js';

let node: Node;

beforeAll(async () => {
  [node] = (await startMemoryNodes(1)) as [Node];
});
afterAll(async () => {
  if (node) await stopNode(node);
});

/** Sends one JSON hub message and reads the next message that is not a ping. */
async function exchange(socket: RawSocket, message: Record<string, unknown>) {
  socket.send(`${JSON.stringify(message)}${RS}`);
  return socket.nextNonPing();
}

describe('invocation kind', () => {
  it('invocation kind - a stream invocation of a non-streaming method is refused without running it', async () => {
    const c = await RawSocket.handshaken(node.url);
    const args = { target: 'Mark', arguments: ['streamed mark'] };
    expect(await exchange(c, { type: 4, invocationId: 's1', ...args })).toEqual({
      type: 3,
      invocationId: 's1',
      error: "The client attempted to invoke the non-streaming 'Mark' method with a streaming invocation.",
    });
    expect(seen.marks).not.toContain('streamed mark');
    c.close();
  });

  it('invocation kind - an invocation of a streaming method is refused without running it', async () => {
    const c = await RawSocket.handshaken(node.url);
    const before = seen.cancelled.length; // Forever records its id when its body ran
    expect(await exchange(c, { type: 1, invocationId: 'i1', target: 'Forever', arguments: ['x'] })).toEqual({
      type: 3,
      invocationId: 'i1',
      error: "The client attempted to invoke the streaming 'Forever' method with a non-streaming invocation.",
    });
    expect(seen.cancelled.length).toBe(before);
    c.close();
  });

  it('invocation kind - stream ids sent to a method without stream parameters are refused without running it', async () => {
    const c = await RawSocket.handshaken(node.url);
    const refusal =
      "An unexpected error occurred invoking 'Mark' on the server. HubException: Client sent 1 stream(s), Hub method expects 0.";
    expect(
      await exchange(c, {
        type: 1,
        invocationId: 'i2',
        target: 'Mark',
        arguments: ['uploaded'],
        streamIds: ['0'],
      }),
    ).toEqual({ type: 3, invocationId: 'i2', error: refusal });
    expect(
      await exchange(c, {
        type: 4,
        invocationId: 's2',
        target: 'Counter',
        arguments: [2],
        streamIds: ['0', '1'],
      }),
    ).toEqual({
      type: 3,
      invocationId: 's2',
      error:
        "An unexpected error occurred invoking 'Counter' on the server. HubException: Client sent 2 stream(s), Hub method expects 0.",
    });
    // Non-blocking: no answer, and still not run (calls run in order, so Echo's answer comes after it would have).
    c.send(`{"type":1,"target":"Mark","arguments":["silent upload"],"streamIds":["0"]}${RS}`);
    expect(await exchange(c, { type: 1, invocationId: 'i3', target: 'Echo', arguments: [3] })).toEqual({
      type: 3,
      invocationId: 'i3',
      result: 3,
    });
    expect(seen.marks).not.toContain('uploaded');
    expect(seen.marks).not.toContain('silent upload');
    c.close();
  });
});
