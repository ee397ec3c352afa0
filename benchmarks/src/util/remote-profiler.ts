import WebSocket from 'ws';
import type { CpuProfile } from './cpu-profile.js';
import { pollUntil } from './wait.js';

/** Sampling interval of the profiler, µs (V8's default is 1 000; finer costs the profiled node more). */
const SAMPLING_INTERVAL_US = 250;
/** How long a protocol call may take, ms. */
const CALL_TIMEOUT_MS = 30_000;

/**
 * Profiles another Node.js process through its inspector (started with `--inspect=127.0.0.1:0`), so a
 * profile covers only the window between {@link start} and {@link stop}: not the start-up, the clients
 * connecting or the warm-up, as `--cpu-prof` would.
 */
export class RemoteProfiler {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #nextId = 0;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.on('message', (data) => {
      const reply = JSON.parse(String(data)) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
      };
      const call = reply.id === undefined ? undefined : this.#pending.get(reply.id);
      if (!call) return;
      this.#pending.delete(reply.id!);
      if (reply.error) call.reject(new Error(reply.error.message));
      else call.resolve(reply.result);
    });
    socket.on('close', () => {
      for (const call of this.#pending.values()) call.reject(new Error('inspector connection closed'));
      this.#pending.clear();
    });
  }

  /** Connects to the inspector whose `Debugger listening on ws://…` line appears in `output()`. */
  static async attach(output: () => string): Promise<RemoteProfiler> {
    let url = '';
    await pollUntil(
      () => {
        url = /Debugger listening on (ws:\/\/\S+)/.exec(output())?.[1] ?? '';
        return url !== '';
      },
      10_000,
      'the inspector to listen',
    );
    const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 0 });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const profiler = new RemoteProfiler(socket);
    await profiler.#call('Profiler.enable');
    await profiler.#call('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
    return profiler;
  }

  start(): Promise<unknown> {
    return this.#call('Profiler.start');
  }

  async stop(): Promise<CpuProfile> {
    const { profile } = (await this.#call('Profiler.stop')) as { profile: CpuProfile };
    return profile;
  }

  close(): void {
    this.#socket.close();
  }

  #call(method: string, params: object = {}): Promise<unknown> {
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`inspector: ${method} timed out`));
      }, CALL_TIMEOUT_MS);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }
}
