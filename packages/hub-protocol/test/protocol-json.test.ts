import { describe, expect, it } from 'vitest';
import { type HubMessage, MessageType } from '../src/hub-messages.js';
import { JsonHubProtocol } from '../src/json-hub-protocol.js';
import { ProtocolError } from '../src/protocol-error.js';

const json = new JsonHubProtocol();
const bytes = (s: string) => new TextEncoder().encode(s);
const written = (message: HubMessage) => new TextDecoder().decode(json.writeMessage(message));
const parse = (s: string) => json.parseMessages(bytes(s));

const messages: HubMessage[] = [
  { type: MessageType.Invocation, target: 'method', arguments: [42, 'x', { a: [1, null] }, true] },
  { type: MessageType.Invocation, invocationId: '1', target: 'm', arguments: [], streamIds: ['s1', 's2'] },
  { type: MessageType.Invocation, invocationId: '2', target: 'm', arguments: [], headers: { k: 'v' } },
  { type: MessageType.StreamItem, invocationId: '1', item: { v: 1 } },
  { type: MessageType.StreamItem, invocationId: '1', item: null, headers: { a: 'b' } },
  { type: MessageType.Completion, invocationId: '1', result: 42 },
  { type: MessageType.Completion, invocationId: '1', result: null },
  { type: MessageType.Completion, invocationId: '1' },
  { type: MessageType.Completion, invocationId: '1', error: 'boom' },
  { type: MessageType.StreamInvocation, invocationId: '2', target: 's', arguments: [1] },
  { type: MessageType.StreamInvocation, invocationId: '3', target: 's', arguments: [], streamIds: ['u'] },
  { type: MessageType.CancelInvocation, invocationId: '2' },
  { type: MessageType.Ping },
  { type: MessageType.Close },
  { type: MessageType.Close, error: 'bye', allowReconnect: true },
  { type: MessageType.Ack, sequenceId: 1234567 },
  { type: MessageType.Sequence, sequenceId: 1 },
];

describe('json hub protocol', () => {
  it('identifies as json version 2 over text, accepting versions 1 and 2', () => {
    expect([json.name, json.version, json.transferFormat]).toEqual(['json', 2, 'text']);
    expect([0, 1, 2, 3].map((v) => json.isVersionSupported(v))).toEqual([false, true, true, false]);
  });

  for (const message of messages) {
    it(`round-trips ${JSON.stringify(message)}`, () => {
      expect(json.parseMessages(json.writeMessage(message))).toEqual([message]);
    });
  }

  it('writes the documented invocation', () => {
    expect(written({ type: 1, invocationId: '123', target: 'Send', arguments: [42, 'Test Message'] })).toBe(
      '{"type":1,"invocationId":"123","target":"Send","arguments":[42,"Test Message"]}\u001e',
    );
  });

  it('writes a non-blocking invocation without invocationId', () => {
    expect(written({ type: 1, target: 'target', arguments: [] })).toBe(
      '{"type":1,"target":"target","arguments":[]}\u001e',
    );
  });

  it('writes a void completion with neither result nor error', () => {
    expect(written({ type: 3, invocationId: '1' })).toBe('{"type":3,"invocationId":"1"}\u001e');
    expect(written({ type: 3, invocationId: '1', result: undefined })).toBe(
      '{"type":3,"invocationId":"1"}\u001e',
    );
  });

  it('writes a null result as "result":null', () => {
    expect(written({ type: 3, invocationId: '1', result: null })).toBe(
      '{"type":3,"invocationId":"1","result":null}\u001e',
    );
  });

  it('writes every other message type with the spec field names', () => {
    expect(written({ type: 2, invocationId: '1', item: 'x', headers: { h: 'v' } })).toBe(
      '{"type":2,"headers":{"h":"v"},"invocationId":"1","item":"x"}\u001e',
    );
    expect(written({ type: 3, invocationId: '1', error: 'e' })).toBe(
      '{"type":3,"invocationId":"1","error":"e"}\u001e',
    );
    expect(written({ type: 4, invocationId: '1', target: 't', arguments: [], streamIds: ['a'] })).toBe(
      '{"type":4,"invocationId":"1","target":"t","arguments":[],"streamIds":["a"]}\u001e',
    );
    expect(written({ type: 5, invocationId: '1' })).toBe('{"type":5,"invocationId":"1"}\u001e');
    expect(written({ type: 6 })).toBe('{"type":6}\u001e');
    expect(written({ type: 7 })).toBe('{"type":7}\u001e');
    expect(written({ type: 7, error: 'e', allowReconnect: true })).toBe(
      '{"type":7,"error":"e","allowReconnect":true}\u001e',
    );
    expect(written({ type: 8, sequenceId: 3 })).toBe('{"type":8,"sequenceId":3}\u001e');
    expect(written({ type: 9, sequenceId: 4 })).toBe('{"type":9,"sequenceId":4}\u001e');
  });

  it('omits empty headers and empty streamIds', () => {
    expect(written({ type: 1, target: 't', arguments: [], headers: {}, streamIds: [] })).toBe(
      '{"type":1,"target":"t","arguments":[]}\u001e',
    );
  });

  it('writes an undefined stream item as null', () => {
    expect(written({ type: 2, invocationId: '1', item: undefined })).toBe(
      '{"type":2,"invocationId":"1","item":null}\u001e',
    );
  });

  it('refuses to write a completion with both error and result', () => {
    expect(() => json.writeMessage({ type: 3, invocationId: '1', error: 'e', result: 1 })).toThrow(
      "The 'error' and 'result' properties are mutually exclusive.",
    );
  });

  it('wraps serialization failures in ProtocolError', () => {
    expect(() => json.writeMessage({ type: 3, invocationId: '1', result: 1n })).toThrow(ProtocolError);
  });

  it('parses several messages in one buffer, in order', () => {
    const all = messages.flatMap((m) => Array.from(json.writeMessage(m)));
    expect(json.parseMessages(Uint8Array.from(all))).toEqual(messages);
  });

  it('parses an empty buffer as no messages', () => {
    expect(json.parseMessages(new Uint8Array(0))).toEqual([]);
  });

  it('skips unknown message types and unknown properties', () => {
    expect(
      parse('{"type":99,"x":1}\u001e{"type":6,"extra":true}\u001e{"type":5,"invocationId":"1","z":[]}\u001e'),
    ).toEqual([{ type: MessageType.Ping }, { type: MessageType.CancelInvocation, invocationId: '1' }]);
  });

  it('reads a null invocationId as a non-blocking invocation', () => {
    expect(parse('{"type":1,"invocationId":null,"target":"t","arguments":[]}\u001e')).toEqual([
      { type: 1, target: 't', arguments: [] },
    ]);
  });

  it('reads properties in any order, with empty headers and streamIds dropped', () => {
    expect(
      parse('{"arguments":[1],"streamIds":[],"headers":{},"target":"t","type":4,"invocationId":"9"}\u001e'),
    ).toEqual([{ type: 4, invocationId: '9', target: 't', arguments: [1] }]);
  });

  it('reads a completion with a null error and a result as a result', () => {
    expect(parse('{"type":3,"invocationId":"1","error":null,"result":[1]}\u001e')).toEqual([
      { type: 3, invocationId: '1', result: [1] },
    ]);
  });

  it('reads multi-byte UTF-8', () => {
    const message: HubMessage = { type: 1, target: 'é', arguments: ['日本語 🎉'] };
    expect(json.parseMessages(json.writeMessage(message))).toEqual([message]);
  });

  it('reports which field of which message is wrong', () => {
    expect(() => parse('{"type":1,"target":5,"arguments":[]}\u001e')).toThrow(
      "Invalid payload for 'Invocation' message: 'target' must be a string.",
    );
    expect(() => parse('{"type":3,"invocationId":"1","result":null,"error":"e"}\u001e')).toThrow(
      "The 'error' and 'result' properties are mutually exclusive.",
    );
  });

  it('keeps the JSON error as the cause', () => {
    const error = (() => {
      try {
        parse('{oops\u001e');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).cause).toBeInstanceOf(SyntaxError);
  });

  const malformed = [
    'not json\u001e',
    '[1,2]\u001e',
    '"x"\u001e',
    '{"target":"x"}\u001e',
    '{"type":"1"}\u001e',
    '{"type":1.5}\u001e',
    '{"type":1,"arguments":[]}\u001e',
    '{"type":1,"target":"x"}\u001e',
    '{"type":1,"target":"x","arguments":{}}\u001e',
    '{"type":1,"invocationId":1,"target":"x","arguments":[]}\u001e',
    '{"type":1,"target":"x","arguments":[],"streamIds":[1]}\u001e',
    '{"type":1,"target":"x","arguments":[],"headers":{"a":1}}\u001e',
    '{"type":1,"target":"x","arguments":[],"headers":[]}\u001e',
    '{"type":2,"item":1}\u001e',
    '{"type":2,"invocationId":"1"}\u001e',
    '{"type":3}\u001e',
    '{"type":3,"invocationId":"1","error":5}\u001e',
    '{"type":3,"invocationId":"1","result":1,"error":"e"}\u001e',
    '{"type":4,"target":"x","arguments":[]}\u001e',
    '{"type":5}\u001e',
    '{"type":7,"allowReconnect":"yes"}\u001e',
    '{"type":7,"error":false}\u001e',
    '{"type":8}\u001e',
    '{"type":9,"sequenceId":1.5}\u001e',
    '{"type":6}',
    '{"type":6}\u001e{"type":6}',
  ];
  for (const input of malformed) {
    it(`rejects ${JSON.stringify(input)} with ProtocolError`, () => {
      expect(() => parse(input)).toThrow(ProtocolError);
    });
  }

  it('rejects invalid UTF-8 with ProtocolError', () => {
    expect(() => json.parseMessages(new Uint8Array([0x22, 0xff, 0x22, 0x1e]))).toThrow(ProtocolError);
  });
});

describe('json hub protocol - values as .NET writes them', () => {
  const text = (message: HubMessage) => Buffer.from(json.writeMessage(message)).toString('utf8').slice(0, -1);

  it('json - a Uint8Array or Buffer is written as a base64 string, like byte[]', () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    expect(
      JSON.parse(
        text({
          type: MessageType.Invocation,
          target: 'T',
          arguments: [bytes, { nested: Buffer.from('hi') }],
        }),
      ),
    ).toEqual({ type: 1, target: 'T', arguments: ['AAEC+v8=', { nested: 'aGk=' }] });
    // A view into a larger buffer writes only its own bytes.
    const view = new Uint8Array([9, 9, 1, 2, 9]).subarray(2, 4);
    expect(JSON.parse(text({ type: MessageType.Completion, invocationId: '1', result: view })).result).toBe(
      'AQI=',
    );
  });

  it('json - a Date is written in ISO 8601 UTC without a fraction when it has none, trimmed otherwise', () => {
    const dates = [
      new Date('2000-01-01T00:00:00.000Z'),
      new Date('2000-01-01T00:00:00.120Z'),
      new Date('2000-01-01T00:00:00.007Z'),
      new Date(Number.NaN),
    ];
    expect(JSON.parse(text({ type: MessageType.StreamItem, invocationId: '1', item: dates })).item).toEqual([
      '2000-01-01T00:00:00Z',
      '2000-01-01T00:00:00.12Z',
      '2000-01-01T00:00:00.007Z',
      null,
    ]);
  });

  it('json - values without dates or bytes are written as JSON.stringify writes them', () => {
    const args = ['a', 1, true, null, { b: [1, { c: 'd' }] }];
    expect(text({ type: MessageType.Invocation, target: 'T', arguments: args })).toBe(
      JSON.stringify({ type: 1, target: 'T', arguments: args }),
    );
  });
});
