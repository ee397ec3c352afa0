import type { Channels } from '../channels.js';
import { type DurableDriver, LOG_START, type LogEntry, type LogPosition } from '../driver.js';
import type { Logger } from '../logger.js';
import type { BackplaneStats } from '../stats.js';
import { backoffDelay } from './backoff.js';
import type { BackplaneEvent } from './events.js';

/** Log entries read per request while replaying. */
const REPLAY_PAGE = 500;
/** Durable mode: log reads per replay at most, while held live messages still reveal gaps. */
const REPLAY_READS = 3;
/**
 * Durable mode: attempts at one log read before the replay gives up (a broker just restarted may refuse
 * reads for a moment: still loading, or the connection not back yet). With the delays below: ~20 s.
 */
const READ_ATTEMPTS = 12;
const READ_RETRY = { initialDelay: 100, maxDelay: 2_000 };

/** One live message: its bytes and, from a durable driver, its log position. */
export interface LiveMessage {
  readonly payload: Uint8Array;
  readonly position: LogPosition | undefined;
}

/** Where a message came from: `live` from the broker, `log` read back from the log, `held` live but held by a replay. */
export type MessageSource = 'live' | 'log' | 'held';

/** What became of one message; `retryFrom`: a held message revealed a gap, read the log again from there. */
export type ProcessOutcome = 'delivered' | 'skipped' | { retryFrom: LogPosition | undefined };

export interface DurableReplayOptions {
  /** The driver, with its log. */
  readonly driver: DurableDriver;
  readonly channels: Channels;
  readonly stats: BackplaneStats;
  readonly log: Logger;
  readonly emit: (event: BackplaneEvent) => void;
  /** Decodes, checks order and delivers one message (the inbound path). */
  readonly process: (
    channel: string,
    payload: Uint8Array,
    position: LogPosition | undefined,
    source: MessageSource,
  ) => ProcessOutcome;
  /** Whether the manager is closed: a failed log read is then not retried. */
  readonly isClosed: () => boolean;
}

/**
 * Durable mode: the last log position processed per channel, and the replay of what a channel's log
 * holds after it (after an outage, or when a live message reveals a gap), with live messages held
 * meanwhile.
 */
export class DurableReplay {
  readonly #options: DurableReplayOptions;
  /** Durable mode: the last log position processed, per channel (live or replayed). */
  readonly #positions = new Map<string, LogPosition>();
  /** Durable mode: live messages held while their channel replays. */
  readonly #replaying = new Map<string, LiveMessage[]>();

  constructor(options: DurableReplayOptions) {
    this.#options = options;
  }

  /** Whether this server has a log position for `channel` (it can replay it). */
  has(channel: string): boolean {
    return this.#positions.has(channel);
  }

  /** The last log position processed on `channel` (`undefined` before it has one). */
  position(channel: string): LogPosition | undefined {
    return this.#positions.get(channel);
  }

  /** The driver, for reading logs on behalf of an adopted session. */
  get driver(): DurableDriver {
    return this.#options.driver;
  }

  /** Holds a live message if its channel is replaying; returns whether it was held. */
  hold(channel: string, message: LiveMessage): boolean {
    const held = this.#replaying.get(channel);
    if (!held) return false;
    held.push(message);
    return true;
  }

  /** Records `position` as processed on `channel`. */
  advance(channel: string, position: LogPosition | undefined): void {
    if (position !== undefined) this.#positions.set(channel, position);
  }

  /** The channel was unsubscribed: its position is no longer kept. */
  forget(channel: string): void {
    this.#positions.delete(channel);
  }

  /** Replays every channel this server has a position for (after an outage). */
  replayAll(): void {
    for (const channel of this.#positions.keys()) void this.replay(channel);
  }

  /** Durable mode: where this server starts reading a channel's log, taken when it subscribes. */
  async baseline(channel: string): Promise<void> {
    try {
      const position = await this.#options.driver.logPosition(channel);
      if (!this.#positions.has(channel)) this.#positions.set(channel, position);
    } catch (error) {
      this.#options.log.warn('Could not read the log position', { channel, error });
    }
  }

  /**
   * Durable mode: delivers what the log holds after the last position processed on `channel`, then the
   * live messages that arrived meanwhile. A held message that still reveals a gap (it was published after
   * the log was read, and what came before it reached neither the log read nor this server) sends the
   * replay back to the log, a few times at most. Duplicates are dropped by (origin, epoch, seq).
   */
  async replay(channel: string, first?: LiveMessage, from?: LogPosition): Promise<void> {
    const { process, stats, emit } = this.#options;
    const held = this.#replaying.get(channel);
    if (held) {
      if (first) held.push(first);
      return;
    }
    const queue = first ? [first] : [];
    this.#replaying.set(channel, queue);
    let delivered = 0;
    let complete = true;
    const gapsBefore = stats.gaps;
    try {
      let start = from ?? this.#positions.get(channel) ?? LOG_START;
      for (let read = 1; ; read++) {
        let after = start;
        for (;;) {
          const page = await this.#readLog(channel, after);
          if (!page.complete) complete = false;
          for (const entry of page.entries) {
            if (process(channel, entry.payload, entry.position, 'log') === 'delivered') delivered++;
            after = entry.position;
          }
          if (page.entries.length < REPLAY_PAGE) break;
        }
        let retry: { retryFrom: LogPosition | undefined } | undefined;
        while (queue.length > 0 && !retry) {
          const message = queue[0]!;
          const outcome = process(
            channel,
            message.payload,
            message.position,
            read < REPLAY_READS ? 'held' : 'log',
          );
          if (typeof outcome === 'object') retry = outcome;
          else queue.shift();
        }
        if (!retry) break;
        start = retry.retryFrom ?? this.#positions.get(channel) ?? LOG_START;
      }
    } catch (error) {
      complete = false;
      this.#options.log.error('Replay failed', { channel, error });
    } finally {
      this.#replaying.delete(channel);
      for (const message of queue) process(channel, message.payload, message.position, 'log');
    }
    const target = this.#options.channels.describe(channel);
    stats.replayed += delivered;
    if (delivered > 0) emit({ type: 'replayed', channel, target, count: delivered });
    // Sequence numbers are the judge: a hole that survives the replay is exactly what is lost.
    emit({
      type: 'recovered',
      channel,
      target,
      recovered: complete && stats.gaps === gapsBefore,
    });
  }

  /** One page of the log, retried with backoff while the broker refuses (live messages stay held). */
  async #readLog(channel: string, after: LogPosition): Promise<{ entries: LogEntry[]; complete: boolean }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#options.driver.readLog(channel, after, REPLAY_PAGE);
      } catch (error) {
        if (this.#options.isClosed() || attempt >= READ_ATTEMPTS) throw error;
        this.#options.log.debug('Log read failed, retrying', { channel, attempt, error });
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt - 1, READ_RETRY)));
      }
    }
  }
}
