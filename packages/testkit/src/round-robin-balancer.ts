import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** A plain HTTP load balancer without affinity, for tests of deployments without sticky sessions. */
export interface RoundRobinBalancer {
  /** Where clients connect (`http://127.0.0.1:{port}`). */
  readonly url: string;
  /**
   * Requests (and WebSocket upgrades) sent to each target so far, in the order of the given urls, counted
   * when sent; one the target refused or reset before answering is taken off again when it is sent on.
   */
  readonly hits: readonly number[];
  /** Stops listening and cuts every connection through it. */
  close(): Promise<void>;
}

/** The errors that mean "this target is down, try another", when they come before any answer. */
const DOWN = new Set(['ECONNREFUSED', 'ECONNRESET']);

/**
 * Starts a balancer on a free port that sends each HTTP request, and each WebSocket upgrade, to the next
 * of `urls` in turn (no affinity of any kind: two requests of one client on one keep-alive connection go
 * to two nodes). Responses are streamed back as they come (Server-Sent Events work through it); a client
 * that goes away aborts its forwarded request.
 *
 * Like a health-checking balancer, a target that refuses or resets the connection before answering is
 * skipped: the request (its body is read whole first, so it can be sent again) or the upgrade goes to the
 * following target, each target at most once; only when all of them fail does the client get a 502.
 */
export async function startRoundRobinBalancer(urls: readonly string[]): Promise<RoundRobinBalancer> {
  if (urls.length === 0) throw new Error('startRoundRobinBalancer needs at least one target url');
  const targets = urls.map((u) => new URL(u));
  const hits = targets.map(() => 0);
  const sockets = new Set<Socket | Duplex>();
  const track = (s: Socket | Duplex) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  let next = 0;
  /** The targets in the order this request tries them: the next in turn, then the others. */
  const order = () => {
    const first = next;
    next = (next + 1) % targets.length;
    return targets.map((_, i) => (first + i) % targets.length);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => forward(req, res, Buffer.concat(chunks)));
  });
  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const tries = order();
    const attempt = (): void => {
      const index = tries.shift();
      if (index === undefined) return void (res.headersSent ? res.destroy() : res.writeHead(502).end());
      const target = targets[index]!;
      hits[index]!++;
      const upstream = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent: false,
        },
        (response) => {
          res.writeHead(response.statusCode ?? 502, response.headers);
          response.pipe(res);
          res.once('close', () => response.destroy());
        },
      );
      upstream.once('error', (error: NodeJS.ErrnoException) => {
        if (res.destroyed) return;
        if (res.headersSent) return void res.destroy();
        if (DOWN.has(error.code ?? '')) {
          hits[index]!--;
          return attempt();
        }
        res.writeHead(502).end();
      });
      res.once('close', () => upstream.destroy());
      upstream.end(body);
    };
    attempt();
  };
  server.on('connection', track);

  server.on('upgrade', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    track(client);
    const tries = order();
    let upstream: Socket | undefined;
    client.once('error', () => {
      client.destroy();
      upstream?.destroy();
    });
    // The client gone: the target ends once what it was given is written.
    client.once('close', () => upstream?.end());
    const attempt = (): void => {
      const index = tries.shift();
      if (index === undefined)
        return void client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
      const target = targets[index]!;
      hits[index]!++;
      const socket = connect(Number(target.port), target.hostname, () => {
        socket.write(requestHead(req));
        if (head.byteLength > 0) socket.write(head);
      });
      upstream = socket;
      track(socket);
      let answered = false;
      socket.once('data', (first: Buffer) => {
        // The target answered: from now on the two sockets are one stream.
        answered = true;
        client.write(first);
        socket.pipe(client);
        client.pipe(socket);
        socket.once('close', () => client.end());
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        if (!answered && !client.destroyed && DOWN.has(error.code ?? '')) {
          hits[index]!--;
          return attempt();
        }
        client.destroy();
        socket.destroy();
      });
      // Closed without a word while still the chosen target: the client sees the same.
      socket.once('close', () => {
        if (!answered && upstream === socket) client.destroy();
      });
    };
    attempt();
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The request line and headers of an upgrade, as they arrived. */
function requestHead(req: IncomingMessage): string {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${head}\r\n`;
}
