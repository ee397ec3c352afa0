/**
 * The progress display: one line per step on a pipe (CI logs), an updating status line on a terminal.
 * Writes to stderr so stdout stays clean for `--json -`.
 */
export class Progress {
  readonly #started = Date.now();
  readonly #tty: boolean;
  readonly #silent: boolean;
  #step = 0;
  #total: number;

  constructor(total: number, options: { silent?: boolean } = {}) {
    this.#total = total;
    this.#silent = options.silent ?? false;
    this.#tty = process.stderr.isTTY === true;
  }

  /** Starts the next of `total` steps. */
  step(label: string): void {
    this.#step++;
    this.#write(`[${this.#step}/${this.#total}] ${label}`);
  }

  /** A detail inside the current step (a round, a contender). */
  detail(label: string): void {
    if (this.#tty) this.#write(`[${this.#step}/${this.#total}] ${label}`, true);
  }

  /** A line that stays (a result, a warning). */
  note(line: string): void {
    if (this.#silent) return;
    if (this.#tty) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`  ${line}\n`);
  }

  done(): void {
    this.#write(`done in ${formatDuration(Date.now() - this.#started)}`);
  }

  #write(line: string, transient = false): void {
    if (this.#silent) return;
    const text = `${formatDuration(Date.now() - this.#started).padStart(6)}  ${line}`;
    if (this.#tty) process.stderr.write(`\r\x1b[2K${text}${transient ? '' : '\n'}`);
    else if (!transient) process.stderr.write(`${text}\n`);
  }
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
