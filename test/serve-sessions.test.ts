import { type RoundRobinBalancer, startRoundRobinBalancer, tallyStream } from '@backplane/testkit';
import * as signalR from '@microsoft/signalr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from './chat-client.js';
import { SERVE_BROKERS, type ServeProcess, startServe } from './serve-process.js';

/** Messages sent before the owner of the client's connection goes. */
const BEFORE = 100;
/** Messages sent after it went. */
const AFTER = 300;
/** One message every this many ms (100 a second). */
const SEND_EVERY_MS = 10;
/** How long the client may take to have everything once the sender stopped, in ms. */
const DELIVERED_WITHIN_MS = 15_000;
/** How long a draining node may take to hand its sessions off and exit, in ms. */
const DRAIN_WITHIN_MS = 10_000;
/** The nodes' ids, in the order of the balancer's targets. */
const NODE_IDS = ['n1', 'n2', 'n3'];
/** The group the client joins once, before the fault. */
const GROUP = 'g';

/** How the owner of the client's connection goes. */
type Fault = 'SIGKILL' | 'SIGTERM';

/** One line per case, printed at the end of the run. */
const report: string[] = [];
afterAll(() => {
  if (report.length) process.stdout.write(`\nsessions that outlive their server\n${report.join('\n')}\n`);
});

/** Everything one case starts, stopped after it whatever happened. */
let nodes: ServeProcess[] = [];
let balancer: RoundRobinBalancer | undefined;
afterEach(async () => {
  await balancer?.close();
  balancer = undefined;
  await Promise.allSettled(nodes.map((n) => n.stop()));
  nodes = [];
});

/** The node id in a connection id `{22 chars}.{nodeId}-{8 hex}` (its owner). */
function ownerOf(connectionId: string): string {
  const match = /^[^.]{22}\.(.+)-[0-9a-f]{8}$/.exec(connectionId);
  if (!match) throw new Error(`connection id ${connectionId} does not name its owner as {nodeId}-{8 hex}`);
  return match[1]!;
}

/** `POST /api/broadcast` of message `n` to group 'g' on `node`; throws unless accepted. */
async function broadcast(node: ServeProcess, n: number): Promise<void> {
  const res = await fetch(`${node.url}/api/broadcast`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: 'sender', message: String(n), group: GROUP }),
  });
  if (res.status !== 202) throw new Error(`broadcast ${n} answered ${res.status}: ${await res.text()}`);
}

/** The client's log (transport events and the frames it sends), from a point on, to explain a failure. */
class ClientLog implements signalR.ILogger {
  readonly lines: string[] = [];
  #from = Date.now();
  /** Starts the log afresh; times are from now. */
  mark(): void {
    this.lines.length = 0;
    this.#from = Date.now();
  }
  log(level: signalR.LogLevel, message: string): void {
    // Every received frame would drown the rest.
    if (/data received/.test(message)) return;
    this.lines.push(`+${Date.now() - this.#from}ms ${signalR.LogLevel[level]} ${message}`);
  }
}

interface SessionCase {
  readonly driver: (typeof SERVE_BROKERS)[number];
  readonly brokerUrl: () => string;
  readonly durable: boolean;
  readonly protocol: 'json' | 'messagepack';
  readonly fault: Fault;
}

/** What a case saw, for its own checks. */
interface SessionResult {
  readonly received: readonly number[];
  readonly last: number;
  readonly before: string;
  readonly after: string;
  readonly lifecycle: readonly string[];
  readonly exitCode?: number | null;
  readonly firstAfterFaultMs: number | undefined;
  readonly explain: string;
}

/**
 * Three `serve` nodes (n1..n3) behind a round-robin balancer; an official client with stateful reconnect
 * joins group 'g' through it; a sender on a node that is not the client's owner broadcasts numbered
 * messages to 'g' at a steady rate; after {@link BEFORE} messages the owner is killed or drained and
 * {@link AFTER} more are sent. Waits for the last one (or for the client to give up), then sends one more
 * to check the client is still in the group without having joined it again.
 */
async function runSession(c: SessionCase): Promise<SessionResult> {
  // Debug: a failure shows each node's connection and handshake lines.
  const serveArgs = ['--driver', c.driver.name, '--url', c.brokerUrl(), '--token-secret', 'sessions-secret'];
  serveArgs.push('--log-level', 'debug');
  if (c.durable) serveArgs.push('--durable');
  nodes = await Promise.all(NODE_IDS.map((id) => startServe([...serveArgs, '--node-id', id])));
  balancer = await startRoundRobinBalancer(nodes.map((n) => n.url));

  const log = new ClientLog();
  const client = await connect(balancer.url, 'WebSockets', c.protocol, 'alice', undefined, (b) =>
    b
      .withStatefulReconnect()
      // An application would have it too: the stateful reconnect must make it unnecessary.
      .withAutomaticReconnect([0])
      .configureLogging(log),
  );
  const lifecycle: string[] = [];
  const received: number[] = [];
  const arrivals: number[] = [];
  let settle: ((error?: Error) => void) | undefined;
  let wanted = Number.POSITIVE_INFINITY;
  client.on('ReceiveMessage', (_user: string, message: string) => {
    received.push(Number(message));
    arrivals.push(Date.now());
    if (Number(message) >= wanted) settle?.();
  });
  const lost = (what: string) => (error?: Error) => {
    lifecycle.push(`${what}(${error?.message ?? ''})`);
    settle?.(new Error(`the client's ${what} fired: ${error?.message ?? 'no error'}`));
  };
  client.onclose(lost('onclose'));
  client.onreconnecting(lost('onreconnecting'));
  /** Resolves once message `n` arrived; rejects as soon as the client loses its session, or on timeout. */
  const arrived = (n: number, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      if (received.includes(n)) return resolve();
      if (lifecycle.length) return reject(new Error(`the client lost its session: ${lifecycle.join(', ')}`));
      const timer = setTimeout(
        () =>
          reject(new Error(`message ${n} not received within ${timeoutMs} ms (last: ${received.at(-1)})`)),
        timeoutMs,
      );
      wanted = n;
      settle = (error) => {
        clearTimeout(timer);
        settle = undefined;
        wanted = Number.POSITIVE_INFINITY;
        if (error) reject(error);
        else resolve();
      };
    });

  await client.invoke('JoinGroup', GROUP);
  const before = await client.invoke<string>('GetConnectionId');
  const victim = nodes[NODE_IDS.indexOf(ownerOf(before))];
  if (!victim) throw new Error(`no node of ${NODE_IDS.join(', ')} owns ${before}`);
  const sender = nodes.find((n) => n !== victim)!;

  // The sender: numbered messages at a steady rate, each accepted before the next (their order is known).
  const total = BEFORE + AFTER;
  let sent = 0;
  let reachedBefore: () => void = () => {};
  const atFault = new Promise<void>((resolve) => {
    reachedBefore = resolve;
  });
  const start = Date.now();
  let halted = false;
  const sending = (async () => {
    for (let n = 1; n <= total && !halted; n++) {
      await broadcast(sender, n);
      sent = n;
      if (n === BEFORE) reachedBefore();
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, start + n * SEND_EVERY_MS - Date.now())),
      );
    }
  })();
  /** Each node's output from the fault on (offsets taken then). */
  let logFrom: number[] = [];
  const explain = () =>
    `client log from the ${c.fault}:\n${log.lines.slice(0, 40).join('\n')}\n` +
    `lifecycle: ${lifecycle.join(', ') || 'none'}\n` +
    nodes
      .map((n, i) => {
        const lines = n.process.output.slice(logFrom[i] ?? 0).split('\n');
        return `${NODE_IDS[i]}${n === victim ? ' (the owner)' : ''} logged:\n${lines.slice(0, 15).join('\n')}`;
      })
      .join('\n');
  try {
    await Promise.race([atFault, sending]);
    log.mark();
    logFrom = nodes.map((n) => n.process.output.length);
    const faultAt = Date.now();
    const sentAtFault = sent;
    let exitCode: number | null | undefined;
    if (c.fault === 'SIGKILL') await victim.process.kill();
    else {
      process.kill(victim.process.pid!, 'SIGTERM');
      exitCode = await Promise.race([
        victim.process.exited(),
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), DRAIN_WITHIN_MS)),
      ]);
    }
    try {
      await sending;
      await arrived(total, DELIVERED_WITHIN_MS);
      // Still in the group, never joined again: a message sent now arrives.
      await broadcast(sender, total + 1);
      await arrived(total + 1, DELIVERED_WITHIN_MS);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${explain()}`, { cause: error });
    }
    const after = await client.invoke<string>('GetConnectionId');
    const firstAfter = received.findIndex((n) => n > sentAtFault);
    return {
      received,
      last: total + 1,
      before,
      after,
      lifecycle,
      exitCode,
      firstAfterFaultMs: firstAfter < 0 ? undefined : arrivals[firstAfter]! - faultAt,
      explain: explain(),
    };
  } finally {
    // A failed check must not leave the sender posting to stopped nodes.
    halted = true;
    await sending.catch(() => {});
  }
}

for (const driver of SERVE_BROKERS) {
  describe(`backplane serve --durable on ${driver.name}: sessions outlive their server`, () => {
    let broker: { url: string; stop(): Promise<void> } | undefined;
    beforeAll(async () => {
      broker = await driver.start();
    }, 120_000);
    afterAll(async () => {
      await broker?.stop();
    });

    const cases: Array<[Fault, 'json' | 'messagepack']> = [
      ['SIGKILL', 'json'],
      ['SIGKILL', 'messagepack'],
      ['SIGTERM', 'json'],
    ];
    for (const [fault, protocol] of cases) {
      const how = fault === 'SIGKILL' ? 'killed (SIGKILL)' : 'drained (SIGTERM)';
      it(`sessions - ${driver.name} --durable: the owner of a stateful-reconnect client's connection ${how} under load; another node adopts the session: same id, same group, every message once and in order, the client never notices (${protocol})`, async () => {
        const r = await runSession({ driver, brokerUrl: () => broker!.url, durable: true, protocol, fault });
        expect(r.lifecycle, r.explain).toEqual([]);
        expect(r.after, r.explain).toBe(r.before);
        expect(tallyStream(r.last, r.received), r.explain).toMatchObject({
          lost: 0,
          duplicated: 0,
          reordered: 0,
        });
        expect(r.received).toEqual(Array.from({ length: r.last }, (_, i) => i + 1));
        if (fault === 'SIGTERM') expect(r.exitCode, 'the drained node exits 0 by itself').toBe(0);
        report.push(
          `${driver.name} --durable ${fault} ${protocol}: ${r.received.length}/${r.last} messages, first message sent after the ${fault} arrived ${r.firstAfterFaultMs} ms after it`,
        );
      }, 40_000);
    }

    if (driver.name === 'redis')
      it('sessions - redis without --durable: the owner of the connection killed (SIGKILL); another node adopts the session (same id, same group) and the stream goes on, what was lost logged', async () => {
        const r = await runSession({
          driver,
          brokerUrl: () => broker!.url,
          durable: false,
          protocol: 'json',
          fault: 'SIGKILL',
        });
        expect(r.lifecycle, r.explain).toEqual([]);
        expect(r.after, r.explain).toBe(r.before);
        // The group is kept: the message sent after everything else arrived (runSession waits for it).
        expect(r.received.at(-1), r.explain).toBe(r.last);
        const missed = r.last - new Set(r.received).size;
        report.push(
          `redis SIGKILL json (not durable): ${r.received.length}/${r.last} messages, ${missed} missed, first message sent after the kill arrived ${r.firstAfterFaultMs} ms after it`,
        );
      }, 40_000);
  });
}
