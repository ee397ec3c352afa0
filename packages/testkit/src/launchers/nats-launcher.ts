import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { requireBinary } from './managed-process.js';
import { type ServerProcessHandle, startServerProcess, tcpProbe } from './server-process.js';

const INSTALL_HINT = 'apt-get install nats-server (Debian/Ubuntu) or brew install nats-server (macOS)';

/** A real nats-server (JetStream on, store in a temp dir) on a random port, with fault helpers. */
export interface NatsServerHandle extends ServerProcessHandle {
  readonly port: number;
  readonly url: string;
}

/**
 * Starts a real nats-server on a random port (JetStream on unless `jetstream: false`, store in a temp
 * dir); `startTimeoutMs` bounds how long it may take to accept connections.
 */
export async function startNats(
  options: { jetstream?: boolean; startTimeoutMs?: number } = {},
): Promise<NatsServerHandle> {
  requireBinary('nats-server', INSTALL_HINT);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'backplane-nats-'));
  const args = [
    '-a',
    '127.0.0.1',
    '-p',
    String(port),
    ...(options.jetstream === false ? [] : ['-js', '-sd', dir]),
  ];
  const server = await startServerProcess({
    command: 'nats-server',
    args,
    name: `nats-server on port ${port}`,
    ready: () => tcpProbe(port, { expect: (greeting) => greeting.startsWith('INFO ') }),
    startTimeoutMs: options.startTimeoutMs ?? 10_000,
    dir,
  });
  return { ...server, port, url: `nats://127.0.0.1:${port}` };
}
