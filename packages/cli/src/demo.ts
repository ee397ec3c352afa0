import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { MemoryBus, MemoryDriver } from '@backplane/memory';
import type { ServeOptions } from './args.js';
import { demoPage, demoPagePolicy } from './demo-page.js';
import { type RunningNode, SECURITY_HEADERS, startNodeServer } from './node-server.js';

/** A running `backplane demo`: its nodes, on one shared memory bus, and the URL of the demo page. */
export interface Demo {
  readonly url: string;
  readonly nodes: readonly RunningNode[];
  close(): Promise<void>;
}

/**
 * The main job: several nodes (one process, the embedded memory bus; or a broker with --driver) and a
 * page where a person picks a node, joins groups, sends, and sees each message marked with the node
 * that delivered it.
 */
export async function runDemo(options: ServeOptions & { nodes: number }, print = true): Promise<Demo> {
  const browserClient = createRequire(import.meta.url).resolve(
    '@microsoft/signalr/dist/browser/signalr.min.js',
  );
  const page = createServer();
  await new Promise<void>((resolve, reject) => {
    page.once('error', reject);
    page.listen(options.port, options.host, () => resolve());
  });
  const pageUrl = `http://${options.host}:${(page.address() as AddressInfo).port}`;
  const bus = new MemoryBus();
  const nodes: RunningNode[] = [];
  // The demo's nodes share one secret, made for this run (never a constant).
  const tokenSecret = options.tokenSecret ?? randomBytes(32).toString('base64url');
  try {
    for (let i = 1; i <= options.nodes; i++) {
      nodes.push(
        await startNodeServer({
          ...options,
          tokenSecret,
          port: 0,
          nodeId: `node-${i}`,
          corsOrigins: [pageUrl],
          ...(options.driver === 'memory' && { sharedDriver: new MemoryDriver({ bus }) }),
        }),
      );
    }
  } catch (error) {
    await Promise.allSettled(nodes.map((n) => n.close()));
    page.close();
    throw error;
  }
  const targets = nodes.map((n) => ({ nodeId: n.nodeId, url: n.url }));
  const nonce = randomBytes(16).toString('base64');
  const html = demoPage(targets, nonce);
  const policy = demoPagePolicy(targets, nonce);
  page.on('request', (req, res) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/')
      res
        .writeHead(200, {
          'Content-Type': 'text/html; charset=utf-8',
          'Content-Security-Policy': policy,
          'Cache-Control': 'no-store',
        })
        .end(html);
    else if (path === '/signalr.min.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      createReadStream(browserClient).pipe(res);
    } else if (path === '/favicon.ico') res.writeHead(204).end();
    else res.writeHead(404).end();
  });
  if (print) {
    for (const node of nodes) process.stdout.write(`${node.nodeId} listening on ${node.url}\n`);
    process.stdout.write(`demo on ${pageUrl}  (${options.nodes} nodes, ${options.driver} backplane)\n`);
  }
  return {
    url: pageUrl,
    nodes,
    async close() {
      page.closeAllConnections();
      await new Promise((resolve) => page.close(resolve));
      await Promise.allSettled(nodes.map((n) => n.close()));
    },
  };
}
