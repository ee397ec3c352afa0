import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** A plain HTTP load balancer without affinity, for tests of deployments without sticky sessions. */
export interface RoundRobinBalancer {
  /** Where clients connect (`http://127.0.0.1:{port}`). */
  readonly url: string;
  /** Requests (and WebSocket upgrades) sent to each target so far, in the order of the given urls. */
  readonly hits: readonly number[];
  /** Stops listening and cuts every connection through it. */
  close(): Promise<void>;
}

/**
 * Starts a balancer on a free port that sends each HTTP request, and each WebSocket upgrade, to the next
 * of `urls` in turn (no affinity of any kind: two requests of one client on one keep-alive connection go
 * to two nodes). Responses are streamed back as they come (Server-Sent Events work through it); a client
 * that goes away aborts its forwarded request.
 */
export async function startRoundRobinBalancer(urls: readonly string[]): Promise<RoundRobinBalancer> {
  if (urls.length === 0) throw new Error('startRoundRobinBalancer needs at least one target url');
  const targets = urls.map((u) => new URL(u));
  const hits = targets.map(() => 0);
  const sockets = new Set<Socket | Duplex>();
  let next = 0;
  const pick = () => {
    const index = next;
    next = (next + 1) % targets.length;
    hits[index]!++;
    return targets[index]!;
  };
  const server: Server = createServer((req, res) => {
    const target = pick();
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
    upstream.once('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    res.once('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    const target = pick();
    const upstream = connect(Number(target.port), target.hostname, () => {
      upstream.write(requestHead(req));
      if (head.byteLength > 0) upstream.write(head);
      client.pipe(upstream).pipe(client);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.once('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    // One side gone: the other ends once what it was given is written.
    client.once('close', () => upstream.end());
    upstream.once('close', () => client.end());
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
