import { type ChildProcess, spawn, spawnSync } from 'node:child_process';

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

/**
 * Children die with the test process: on a normal exit, and on the signals a test runner sends a worker it
 * tears down (a SIGTERMed vitest worker skips 'exit' handlers, which left brokers running). After killing
 * the children the signal's default action is restored and the signal re-raised, unless someone else
 * handles it. SIGKILL of the test process cannot be caught: its children outlive it.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/** Fails loudly, with an install hint, when a binary is missing. */
export function requireBinary(binary: string, hint: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  if (found.status !== 0) throw new Error(`${binary} not found on PATH. Install it: ${hint}`);
}

/**
 * A child process owned by a test: output kept for error messages, killed when the test process exits,
 * with the signals fault tests need.
 */
export class ManagedProcess {
  readonly #command: string;
  readonly #args: readonly string[];
  readonly #env: Readonly<Record<string, string>> | undefined;
  #child: ChildProcess | undefined;
  #output = '';
  #exited: Promise<number | null> = Promise.resolve(null);

  /** @param options.env variables added to this process's environment for the child. */
  constructor(command: string, args: readonly string[], options: { env?: Record<string, string> } = {}) {
    this.#command = command;
    this.#args = args;
    this.#env = options.env;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The last few KB of stdout and stderr. */
  get output(): string {
    return this.#output;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  start(): void {
    installExitHook();
    const child = spawn(this.#command, this.#args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(this.#env && { env: { ...process.env, ...this.#env } }),
    });
    this.#child = child;
    running.add(child);
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-8_192);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        running.delete(child);
        resolve(code);
      });
      child.once('error', (error) => {
        this.#output += `\n${error.message}`;
        running.delete(child);
        resolve(-1);
      });
    });
  }

  /** Resolves when the process exits (with its code), for racing against readiness. */
  exited(): Promise<number | null> {
    return this.#exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 3_000): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    child.kill('SIGCONT'); // a frozen process cannot handle SIGTERM
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** SIGKILL: the process dies at once, as in a crash. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  /** SIGSTOP: the process stops answering while its sockets stay open. */
  freeze(): void {
    this.#child?.kill('SIGSTOP');
  }

  /** SIGCONT: undoes {@link ManagedProcess#freeze}. */
  thaw(): void {
    this.#child?.kill('SIGCONT');
  }
}
