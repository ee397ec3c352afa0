import { type StreamTally, tallyStream, waitFor } from '@backplane/testkit';
import * as signalR from '@microsoft/signalr';
import { expect } from 'vitest';
import { type ServeProcess, scrapeMetrics, startServe } from './serve-process.js';

/** One message every this many ms from the sender, in ms. */
export const SEND_EVERY_MS = 20;
/** How long the steady load runs after recovery, in ms. */
const LOAD_AFTER_MS = 2_000;
/** How long detection of the fault is watched for, in ms. */
const DETECT_WITHIN_MS = 15_000;

/** A node's link (from `/health`) and counters (from `/metrics`). */
export interface NodeHealth {
  link: string;
  stats: { gaps: number; dropped: number; replayed: number };
}

export async function health(node: ServeProcess): Promise<NodeHealth> {
  const { link } = (await (await fetch(`${node.url}/health`)).json()) as { link: string };
  const m = await scrapeMetrics(node.url);
  return {
    link,
    stats: {
      gaps: m.backplane_gap_messages_total ?? Number.NaN,
      dropped: m.backplane_outbox_dropped_total ?? Number.NaN,
      replayed: m.backplane_replayed_total ?? Number.NaN,
    },
  };
}

/** An official client (WebSockets) on a serve node's `/chat` hub. */
export async function chatClient(url: string, user: string): Promise<signalR.HubConnection> {
  const c = new signalR.HubConnectionBuilder()
    .withUrl(`${url}/chat?user=${user}`, { transport: signalR.HttpTransportType.WebSockets })
    .configureLogging(signalR.LogLevel.None)
    .build();
  await c.start();
  return c;
}

/** A node's warnings and errors, to explain a failed check. */
export function warnings(node: ServeProcess): string {
  const lines = node.process.output.split('\n').filter((l) => /warn|error/i.test(l));
  return `node ${node.url} logged:\n${lines.slice(-20).join('\n')}`;
}

export interface StreamScenario {
  /** `serve` flags shared by both nodes (driver, url, durable, …); node ids and the token secret are added. */
  readonly serveArgs: readonly string[];
  /** The receiver joins a group and the sender sends to it (else to everyone). @default false */
  readonly group?: boolean;
  /** Steady load before the fault, in ms; a random 0–1 000 ms more is added (the fault lands anywhere). */
  readonly loadBeforeMs: number;
  /** Causes the fault; resolves once it is done (a kill for good resolves right after the kill). */
  readonly fault: () => Promise<void>;
  /** How long both links may take to be up again after the fault, in ms. @default 60_000 */
  readonly recoverWithinMs?: number;
}

export interface StreamResult extends StreamTally {
  /** Node B's gaps, node A's outbox drops, node B's replays. */
  readonly gaps: number;
  readonly dropped: number;
  readonly replayed: number;
  /** From the fault until node A's link was reported down; undefined when it never was. */
  readonly detectedMs: number | undefined;
  /** From the fault until both links were up and the load flowing again. */
  readonly recoveredMs: number;
  readonly a: ServeProcess;
  readonly b: ServeProcess;
}

/**
 * Two `serve` nodes, a sender on A and a receiver on B (official clients), one numbered message every
 * {@link SEND_EVERY_MS}; the fault lands at a random point of the load, the load goes on through it and
 * for a while after recovery. Checks what must always hold (both nodes up, both clients connected, no
 * duplicate, no reordering, every loss reported) and returns the figures for the caller's own checks.
 */
export async function runStreamScenario(scenario: StreamScenario): Promise<StreamResult> {
  const nodes: ServeProcess[] = [];
  const clients: signalR.HubConnection[] = [];
  let sending = true;
  let load: Promise<void> | undefined;
  try {
    for (const id of ['a', 'b'])
      nodes.push(await startServe([...scenario.serveArgs, '--node-id', id, '--token-secret', 't']));
    const [a, b] = nodes as [ServeProcess, ServeProcess];
    const sender = await chatClient(a.url, 'sender');
    const receiver = await chatClient(b.url, 'receiver');
    clients.push(sender, receiver);
    const received: number[] = [];
    receiver.on('ReceiveMessage', (_user: string, n: string) => received.push(Number(n)));
    if (scenario.group) await receiver.invoke('JoinGroup', 'g');

    let sent = 0;
    load = (async () => {
      while (sending) {
        const n = String(sent++);
        if (scenario.group) await sender.invoke('SendToGroup', 'g', 'sender', n);
        else await sender.invoke('SendMessage', 'sender', n);
        await new Promise((resolve) => setTimeout(resolve, SEND_EVERY_MS));
      }
    })();
    await waitFor(() => received.length > 10, { name: 'traffic before the fault' });
    await new Promise((resolve) => setTimeout(resolve, scenario.loadBeforeMs + Math.random() * 1_000));

    const faultAt = Date.now();
    let detectedMs: number | undefined;
    let watching = true;
    const watch = (async () => {
      while (watching && detectedMs === undefined && Date.now() - faultAt < DETECT_WITHIN_MS) {
        if ((await health(a)).link !== 'up') detectedMs = Date.now() - faultAt;
        else await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    await scenario.fault();
    await waitFor(async () => (await health(a)).link === 'up' && (await health(b)).link === 'up', {
      name: 'both links up again',
      timeoutMs: scenario.recoverWithinMs ?? 60_000,
    });
    // Recovered once a message sent from now on arrives.
    const probe = sent;
    await waitFor(() => received.some((n) => n >= probe), {
      name: 'messages flowing after the fault',
      timeoutMs: scenario.recoverWithinMs ?? 60_000,
    });
    const recoveredMs = Date.now() - faultAt;
    watching = false;
    await watch;
    await new Promise((resolve) => setTimeout(resolve, LOAD_AFTER_MS));
    sending = false;
    await load;
    const last = sent - 1;
    // Everything after recovery arrives: wait for the last message.
    await waitFor(() => received.includes(last), { name: 'the last message', timeoutMs: 30_000 });
    const result = tallyStream(sent, received);
    const [ha, hb] = [await health(a), await health(b)];

    expect(a.process.running && b.process.running).toBe(true);
    expect(sender.state).toBe(signalR.HubConnectionState.Connected);
    expect(receiver.state).toBe(signalR.HubConnectionState.Connected);
    expect(result.duplicated, warnings(b)).toBe(0);
    expect(result.reordered, warnings(b)).toBe(0);
    // Nothing is lost silently: every message B never got is a gap B reported, or a drop A reported.
    expect(
      hb.stats.gaps + ha.stats.dropped,
      `${JSON.stringify(result.missing)} ${warnings(b)}`,
    ).toBeGreaterThanOrEqual(result.lostAfterFirst);
    return {
      ...result,
      gaps: hb.stats.gaps,
      dropped: ha.stats.dropped,
      replayed: hb.stats.replayed,
      detectedMs,
      recoveredMs,
      a,
      b,
    };
  } finally {
    // A failed check must not leave the load invoking on stopped clients.
    sending = false;
    await load?.catch(() => {});
    await Promise.allSettled(clients.map((c) => c.stop()));
    await Promise.allSettled(nodes.map((n) => n.stop()));
  }
}

/** A row of the fault table in docs/guarantees.md. */
export function reportRow(label: string, fault: string, r: StreamResult): string {
  return `| ${label} | ${fault} | ${r.sent} | ${r.lost} | ${r.duplicated} | ${r.reordered} | ${r.gaps} | ${r.dropped} | ${r.replayed} | ${r.detectedMs ?? 'not detected'} | ${r.recoveredMs} |`;
}
