import type { InvocationMessage } from '@backplane/hub-protocol';
import { JsonHubProtocol } from '@backplane/hub-protocol';
import type { LocalConnection } from '../src/local-connection.js';

export const json = new JsonHubProtocol();
export const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** How long a negative check ("receives nothing") waits before concluding, in ms. */
export const SETTLE_MS = 100;
/** How long a test waits for an expected message or state, in ms. */
export const WAIT_MS = 3_000;

/** A JSON connection that records the first argument of every invocation it is sent. */
export interface RecordingConnection extends LocalConnection {
  readonly words: string[];
}

export function recordingConnection(connectionId: string, userIdentifier?: string): RecordingConnection {
  const words: string[] = [];
  return {
    connectionId,
    userIdentifier,
    protocol: json,
    words,
    write: (frame) => {
      for (const m of json.parseMessages(frame)) words.push(String((m as InvocationMessage).arguments[0]));
    },
  };
}

/**
 * Waits until `check` holds; throws after `timeoutMs`. It checks again every 5 ms, or whenever the wake-up
 * `subscribe` hands out is called (a test double calls it on each event).
 */
export async function until(
  check: () => boolean,
  name: string,
  timeoutMs = WAIT_MS,
  subscribe?: (wake: () => void) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${name}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5);
      subscribe?.(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** Waits {@link SETTLE_MS}: what should not arrive would have by then. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}
