import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy for fault tests: forwards 127.0.0.1:`port` to a target port, and can cut every live
 * connection (both sides see an abrupt close), hold new connections until released, or black-hole
 * traffic like a network partition (nothing gets through while sockets stay open).
 */
export interface TcpProxy {
  readonly port: number;
  /** Destroys every live connection, as a network failure would. */
  cut(): void;
  /** New connections wait, unanswered, until `release()` (existing ones keep working). */
  hold(): void;
  release(): void;
  /**
   * While on, nothing gets through in either direction and sockets stay open, as in a network partition;
   * new connections wait unanswered. Bytes already sent are held back, not lost, and delivered in order when
   * it ends, as TCP's retransmission would deliver them once the path heals.
   */
  blackhole(on: boolean): void;
  close(): Promise<void>;
}

/** Starts a `TcpProxy` on a random local port, forwarding to `targetHost:targetPort`. */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const live = new Set<Socket>();
  const waiting: Array<() => void> = [];
  let holding = false;
  let partitioned = false;
  const heldBytes: Array<{ to: Socket; chunk: Buffer }> = [];

  const pipe = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => {
      if (partitioned) heldBytes.push({ to, chunk });
      else if (!to.destroyed) to.write(chunk);
    });
    from.on('close', () => to.destroy());
    from.on('error', () => to.destroy());
  };
  const server: Server = createServer((client) => {
    live.add(client);
    client.on('close', () => live.delete(client));
    client.on('error', () => client.destroy());
    const open = () => {
      if (client.destroyed) return;
      const upstream = connect({ host: targetHost, port: targetPort });
      live.add(upstream);
      upstream.on('close', () => live.delete(upstream));
      pipe(client, upstream);
      pipe(upstream, client);
    };
    if (holding || partitioned) {
      client.pause();
      waiting.push(() => {
        client.resume();
        open();
      });
    } else open();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    cut: () => {
      for (const socket of live) socket.resetAndDestroy();
      live.clear();
    },
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      if (!partitioned) for (const start of waiting.splice(0)) start();
    },
    blackhole: (on) => {
      partitioned = on;
      if (on) return;
      for (const { to, chunk } of heldBytes.splice(0)) if (!to.destroyed) to.write(chunk);
      if (!holding) for (const start of waiting.splice(0)) start();
    },
    close: async () => {
      for (const socket of live) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
