import type { Logger } from '@backplane/core';
import { asError, recoverFrom } from './guard.js';
export interface KeepAliveSettings {
  /** Ping the client after this long without sending, in ms. */
  readonly keepAliveInterval: number;
  /** Close a client silent for this long, in ms. */
  readonly clientTimeoutInterval: number;
  /** Close a connection whose handshake has not arrived after this long, in ms. */
  readonly handshakeTimeout: number;
}

/** What a connection's heartbeat must do now. */
export type KeepAliveDue = 'ping' | 'client-timeout' | 'handshake-timeout' | undefined;

/**
 * Keep-alive bookkeeping of one connection (SignalR's `HubConnectionContext` heartbeat): a Ping when
 * nothing was sent for `keepAliveInterval`, a close when nothing was received for `clientTimeoutInterval`,
 * a failed handshake after `handshakeTimeout`. Transports with an inherent keep-alive (long polling: the
 * polls are the liveness signal and the client sends no pings) get neither pings nor a client timeout.
 */
export class KeepAlive {
  #lastReceived: number;
  #lastSent: number;
  /** Something was sent since the last `due` (sends are too frequent to read the clock for each). */
  #sentSinceCheck = false;
  readonly #handshakeDeadline: number;

  constructor(
    readonly settings: KeepAliveSettings,
    readonly inherent: boolean,
    now = Date.now(),
  ) {
    this.#lastReceived = now;
    this.#lastSent = now;
    this.#handshakeDeadline = now + settings.handshakeTimeout;
  }

  received(now = Date.now()): void {
    this.#lastReceived = now;
  }

  /**
   * Notes a send. Without `now` it only sets a flag, which the next `due` turns into "sent at that tick":
   * a Ping may come up to one heartbeat tick later than `keepAliveInterval`, never earlier.
   */
  sent(now?: number): void {
    if (now === undefined) this.#sentSinceCheck = true;
    else this.#lastSent = now;
  }

  due(handshaken: boolean, now = Date.now()): KeepAliveDue {
    if (this.#sentSinceCheck) {
      this.#sentSinceCheck = false;
      this.#lastSent = now;
    }
    if (!handshaken) return now >= this.#handshakeDeadline ? 'handshake-timeout' : undefined;
    if (this.inherent) return undefined;
    if (now - this.#lastReceived > this.settings.clientTimeoutInterval) return 'client-timeout';
    if (now - this.#lastSent >= this.settings.keepAliveInterval) return 'ping';
    return undefined;
  }
}

/**
 * The tick period of hub connections: once a second (as SignalR), or half the finest of their intervals
 * when one is shorter than 2 s (10 ms at least), so short test timers still fire on time.
 */
export function heartbeatPeriod(settings: KeepAliveSettings): number {
  const finest = Math.min(
    settings.keepAliveInterval,
    settings.clientTimeoutInterval,
    settings.handshakeTimeout,
  );
  return Math.max(10, Math.min(1_000, Math.floor(finest / 2)));
}

/** Something ticked by a {@link Heartbeat}: a connection, closed if its tick throws. */
export interface HeartbeatTarget {
  readonly connectionId: string;
  tick(now: number): void;
  close(error?: Error): void;
}

/**
 * One timer for every connection of a hub (SignalR ticks connections once a second from a single
 * heartbeat), running only while there are connections; it never keeps the process alive.
 */
export class Heartbeat {
  readonly #targets = new Set<HeartbeatTarget>();
  readonly #periodMs: number;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param periodMs how often targets tick, in ms ({@link heartbeatPeriod} for hub connections).
   * @param log where a tick that threw is logged (its connection is closed; the others still tick).
   */
  constructor(
    periodMs: number,
    readonly log: Logger,
  ) {
    this.#periodMs = periodMs;
  }

  add(target: HeartbeatTarget): void {
    this.#targets.add(target);
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      const now = Date.now();
      for (const t of [...this.#targets]) {
        try {
          t.tick(now);
        } catch (error) {
          // One connection's failure stops neither the others' ticks nor the process.
          recoverFrom(
            this.log,
            'Heartbeat',
            error,
            () => t.close(asError(error)),
            () => ({ connectionId: t.connectionId }),
          );
        }
      }
    }, this.#periodMs);
    this.#timer.unref();
  }

  delete(target: HeartbeatTarget): void {
    this.#targets.delete(target);
    if (this.#targets.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  stop(): void {
    this.#targets.clear();
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
