import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { waitFor } from '../wait-for.js';
import { ManagedProcess } from './managed-process.js';

/** A broker process started for a test, with the helpers fault tests need. */
export interface ServerProcessHandle {
  /** Graceful stop (SIGTERM, then SIGKILL); the data directory is removed. */
  stop(): Promise<void>;
  /** SIGKILL, as in a crash; `restart()` brings it back with the same arguments (same ports, same data). */
  kill(): Promise<void>;
  /** SIGSTOP: TCP stays open, nothing answers. */
  freeze(): void;
  /** SIGCONT: undoes `freeze()`. */
  thaw(): void;
  /** Starts again after `kill()` or `stop()`, waiting until it is ready. */
  restart(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** How `startServerProcess` starts a server process and tells when it is ready. */
export interface ServerProcessOptions {
  command: string;
  args: readonly string[];
  /** Names the server in errors. */
  name: string;
  /** True once the server accepts work (polled; never a sleep). */
  ready: () => Promise<boolean>;
  /** @default 10_000 ms */
  startTimeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL on stop, in ms. @default 3_000 */
  stopGraceMs?: number;
  /** A temp directory removed on stop. */
  dir?: string;
}

/** Starts a server process and waits until it is ready, racing its early exit (whose output is reported). */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcessHandle> {
  let proc = new ManagedProcess(options.command, options.args);
  const launch = async () => {
    proc = new ManagedProcess(options.command, options.args);
    proc.start();
    let exited = false;
    void proc.exited().then(() => {
      exited = true;
    });
    await waitFor(
      async () => {
        if (exited) throw new Error(`${options.name} exited early:\n${proc.output}`);
        return options.ready();
      },
      { timeoutMs: options.startTimeoutMs ?? 10_000, intervalMs: 50, name: options.name },
    ).catch(async (error: unknown) => {
      await proc.kill();
      throw error;
    });
  };
  await launch();
  const stop = async () => {
    await proc.stop(options.stopGraceMs);
    if (options.dir) rmSync(options.dir, { recursive: true, force: true });
  };
  return {
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

/**
 * One TCP readiness check on 127.0.0.1:`port`: connects, optionally sends `send`, and is true when the
 * first bytes satisfy `expect` (or, without `expect`, as soon as the connection opens).
 */
export function tcpProbe(
  port: number,
  check: { send?: string; expect?: (firstBytes: string) => boolean } = {},
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      if (!check.expect) return done(true);
      if (check.send) socket.write(check.send);
    });
    socket.once('data', (data) => done(check.expect?.(data.toString()) ?? true));
  });
}
