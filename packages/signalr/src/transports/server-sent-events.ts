import type { ServerResponse } from 'node:http';
import type { TransportSender } from '../hub-connection-context.js';

const decoder = new TextDecoder();

/**
 * Server-Sent Events (server→client only; text): every send is one event, each line of the payload a
 * `data:` line. The client sends with HTTP POSTs.
 */
export function serverSentEventsSender(res: ServerResponse): TransportSender {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache,no-store',
    Pragma: 'no-cache',
    'Content-Encoding': 'identity',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.write(':\r\n');
  res.flushHeaders();
  return {
    kind: 'ServerSentEvents',
    binary: false,
    send(bytes) {
      if (res.writableEnded) return;
      const lines = decoder.decode(bytes).split('\n');
      res.write(`${lines.map((line) => `data: ${line.replace(/\r$/, '')}`).join('\r\n')}\r\n\r\n`);
    },
    // The endpoint holds the answer to the client's POST while the connection is paused.
    pause() {},
    resume() {},
    close() {
      if (!res.writableEnded) res.end();
    },
  };
}
