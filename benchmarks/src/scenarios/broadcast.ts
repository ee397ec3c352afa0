import * as signalR from '@microsoft/signalr';
import { io as ioClient, type Socket } from 'socket.io-client';
import { type BrokerDriver, type Brokers, brokerOf, brokerUrl } from '../brokers.js';
import { uniqueName } from '../drivers.js';
import { type ServerProcess, startServe, startSocketIoNode } from '../servers.js';
import type { Progress } from '../util/progress.js';
import { alternate, median } from '../util/stats.js';

export interface BroadcastOptions {
  /** Backplane drivers to run (`backplane serve --driver`). */
  drivers: readonly BrokerDriver[];
  /** WebSocket receivers, spread evenly over the 3 servers. */
  receivers: number;
  /** Sending clients (also receivers), spread over the servers; their sends take turns. */
  senders: number;
  /** Messages per round. */
  messages: number;
  rounds: number;
  /** How far the sender may run ahead of the slowest receiver, in messages. */
  window: number;
}

export type BroadcastContender = `backplane-${BrokerDriver}` | 'socket.io';

export interface BroadcastResult {
  readonly contender: BroadcastContender;
  /** Messages delivered to receivers per second (messages × receivers / time), median over the rounds. */
  readonly deliveries: number;
  readonly rounds: number[];
  readonly error?: string;
}

const SERVERS = 3;
const MESSAGE = 'm'.repeat(100);

/** A set of 3 server processes and its clients, ready to run rounds. */
interface Rig {
  /** Sends one broadcast from the sender client. */
  send(): void;
  /** Messages each receiver has seen. */
  readonly counts: number[];
  close(): Promise<void>;
}

/**
 * End-to-end broadcast: 3 server processes, `receivers` WebSocket clients (the official `@microsoft/signalr`
 * client for backplane, `socket.io-client` for the peer) and `senders` more clients, one per server in turn,
 * that send `SendMessage(user, message)` with a 100-byte message, which the server broadcasts to everyone. Throughput is what the
 * receivers get per second, with the sender never more than `window` messages ahead of the slowest one.
 */
export async function runBroadcast(
  brokers: Brokers,
  options: BroadcastOptions,
  progress: Progress,
): Promise<BroadcastResult[]> {
  const contenders: BroadcastContender[] = [
    ...options.drivers.map((d) => `backplane-${d}` as const),
    'socket.io',
  ];
  progress.step(`end-to-end broadcast: ${contenders.join(' vs ')}, ${options.receivers} receivers`);
  const rigs = new Map<BroadcastContender, Rig>();
  const rounds = new Map<BroadcastContender, number[]>(contenders.map((c) => [c, []]));
  const errors = new Map<BroadcastContender, string>();
  try {
    for (const contender of contenders) {
      progress.detail(`end-to-end broadcast: starting ${contender}`);
      try {
        rigs.set(contender, await startRig(contender, brokers, options.receivers, options.senders));
      } catch (error) {
        errors.set(contender, String(error));
        progress.note(`${contender}: could not start: ${(error as Error).message}`);
      }
    }
    await alternate([...rigs.keys()], options.rounds, async (contender, round) => {
      progress.detail(`end-to-end broadcast: ${contender} round ${round + 1}/${options.rounds}`);
      try {
        rounds.get(contender)!.push(await runRound(rigs.get(contender)!, options));
      } catch (error) {
        errors.set(contender, String(error));
      }
    });
  } finally {
    await Promise.allSettled([...rigs.values()].map((rig) => rig.close()));
  }
  const results = contenders.map((contender): BroadcastResult => {
    const values = rounds.get(contender)!;
    const error = errors.get(contender);
    return { contender, deliveries: median(values), rounds: values, ...(error && { error }) };
  });
  const peer = results.find((r) => r.contender === 'socket.io')?.deliveries ?? Number.NaN;
  for (const r of results)
    progress.note(
      `${r.contender}: ${Math.round(r.deliveries).toLocaleString('en-US')} deliveries/s${r.contender === 'socket.io' ? '' : ` (${(r.deliveries / peer).toFixed(2)}× socket.io)`}${r.error ? ` ERROR ${r.error}` : ''}`,
    );
  return results;
}

async function runRound(rig: Rig, options: BroadcastOptions): Promise<number> {
  const base = rig.counts.map((c) => c);
  const slowest = () => {
    let min = Number.POSITIVE_INFINITY;
    for (let i = 0; i < rig.counts.length; i++) min = Math.min(min, rig.counts[i]! - base[i]!);
    return min;
  };
  const started = performance.now();
  const deadline = Date.now() + 120_000;
  let sent = 0;
  while (slowest() < options.messages) {
    if (Date.now() > deadline)
      throw new Error(`timed out: the slowest receiver got ${slowest()} of ${options.messages}`);
    const target = Math.min(options.messages, slowest() + options.window);
    for (; sent < target; sent++) rig.send();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return (options.messages * rig.counts.length * 1000) / (performance.now() - started);
}

async function startRig(
  contender: BroadcastContender,
  brokers: Brokers,
  receivers: number,
  senderCount: number,
): Promise<Rig> {
  const servers: ServerProcess[] = [];
  const close: Array<() => Promise<unknown> | unknown> = [];
  const counts = new Array<number>(receivers).fill(0);
  try {
    if (contender === 'socket.io') {
      for (let i = 0; i < SERVERS; i++) servers.push(await startSocketIoNode(brokers.redis!.url));
      const sockets: Socket[] = [];
      const open = (url: string) => {
        const socket = ioClient(url, { transports: ['websocket'], reconnection: false });
        sockets.push(socket);
        close.push(() => socket.disconnect());
        return new Promise<Socket>((resolve, reject) => {
          socket.once('connect', () => resolve(socket));
          socket.once('connect_error', reject);
        });
      };
      for (let i = 0; i < receivers; i++) {
        const socket = await open(servers[i % SERVERS]!.url);
        socket.on('ReceiveMessage', () => counts[i]!++);
      }
      const senders: Socket[] = [];
      for (let i = 0; i < senderCount; i++) senders.push(await open(servers[i % SERVERS]!.url));
      let turn = 0;
      return {
        counts,
        send: () => senders[turn++ % senders.length]!.emit('SendMessage', 'bench', MESSAGE),
        close: () => shutdown(close, servers),
      };
    }
    const driver = contender.slice('backplane-'.length) as BrokerDriver;
    const prefix = uniqueName('bench-e2e-');
    for (let i = 0; i < SERVERS; i++)
      servers.push(await startServe(brokerOf(driver), brokerUrl(brokers, driver), `${prefix}:`));
    const open = async (url: string) => {
      const connection = new signalR.HubConnectionBuilder()
        .withUrl(`${url}/chat`, { transport: signalR.HttpTransportType.WebSockets })
        .configureLogging(signalR.LogLevel.None)
        .build();
      close.push(() => connection.stop());
      await connection.start();
      return connection;
    };
    for (let i = 0; i < receivers; i++) {
      const connection = await open(servers[i % SERVERS]!.url);
      connection.on('ReceiveMessage', () => counts[i]!++);
    }
    const senders: signalR.HubConnection[] = [];
    for (let i = 0; i < senderCount; i++) senders.push(await open(servers[i % SERVERS]!.url));
    let turn = 0;
    return {
      counts,
      send: () =>
        void senders[turn++ % senders.length]!.send('SendMessage', 'bench', MESSAGE).catch(() => {}),
      close: () => shutdown(close, servers),
    };
  } catch (error) {
    await shutdown(close, servers);
    throw error;
  }
}

async function shutdown(
  close: ReadonlyArray<() => Promise<unknown> | unknown>,
  servers: readonly ServerProcess[],
): Promise<void> {
  await Promise.allSettled(close.map(async (c) => c()));
  await Promise.allSettled(servers.map((s) => s.stop()));
}
