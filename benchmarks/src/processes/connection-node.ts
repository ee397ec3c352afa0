/**
 * Scenario 5's server: one `backplane serve` node (memory driver), forked with `--expose-gc` and an IPC
 * channel. Sends `{ type: 'listening', url }`; answers `{ type: 'memory' }` with the heap and RSS after two
 * full collections, and `{ type: 'connections' }` with how many connections it holds.
 */
import { writeHeapSnapshot } from 'node:v8';
import { startNodeServer } from '@backplane/cli';
import { quietLogger } from '../cluster.js';
import { memoryReport } from './memory-report.js';

type Request = { type: 'memory' | 'connections' | 'stop' | 'snapshot'; path?: string };

const node = await startNodeServer({
  port: 0,
  host: '127.0.0.1',
  driver: 'memory',
  url: undefined,
  prefix: 'bench:',
  durable: false,
  replicas: undefined,
  outbox: true,
  jwtSecret: undefined,
  tokenSecret: 'bench-token-secret',
  nodeId: 'conn',
  logger: quietLogger,
});
const send = (message: object) => process.send?.(message);
process.on('message', async (request: Request) => {
  switch (request.type) {
    case 'memory':
      send(await memoryReport());
      return;
    case 'snapshot': // profiling aid: where the per-connection bytes go
      send({ type: 'snapshot', file: writeHeapSnapshot(request.path) });
      return;
    case 'connections':
      send({ type: 'connections', count: node.manager.connectionCount });
      return;
    case 'stop':
      await node.close();
      process.exit(0);
  }
});
send({ type: 'listening', url: node.url });
