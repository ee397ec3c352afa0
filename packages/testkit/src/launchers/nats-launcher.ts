import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../wait-for.js';
import { freePort } from './free-port.js';
import { ManagedProcess, requireBinary } from './managed-process.js';

const INSTALL_HINT = 'apt-get install nats-server (Debian/Ubuntu) or brew install nats-server (macOS)';

/** A real nats-server (JetStream on, store in a temp dir) on a random port, with fault helpers. */
export interface NatsServerHandle {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
  /** SIGKILL; `restart()` brings it back on the same port. */
  kill(): Promise<void>;
  freeze(): void;
  thaw(): void;
  restart(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

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
  let proc = new ManagedProcess('nats-server', args);
  const launch = async () => {
    proc = new ManagedProcess('nats-server', args);
    proc.start();
    let exited = false;
    void proc.exited().then(() => {
      exited = true;
    });
    await waitFor(
      async () => {
        if (exited) throw new Error(`nats-server exited early:\n${proc.output}`);
        return natsInfo(port);
      },
      { timeoutMs: options.startTimeoutMs ?? 10_000, name: `nats-server on port ${port}` },
    ).catch(async (error: unknown) => {
      await proc.kill();
      throw error;
    });
  };
  await launch();
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    stop,
    kill: () => proc.kill(),
    freeze: () => proc.freeze(),
    thaw: () => proc.thaw(),
    restart: async () => {
      await proc.kill();
      await launch();
    },
    [Symbol.asyncDispose]: stop,
  };
}

/** True once the server greets a TCP client with its INFO line. */
function natsInfo(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (data) => done(data.toString().startsWith('INFO ')));
  });
}
