import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy for fault tests: forwards 127.0.0.1:`port` to a target port, and can cut every live
 * connection (both sides see an abrupt close), hold new connections until released, or black-hole
 * traffic (bytes are swallowed while sockets stay open).
 */
export interface TcpProxy {
  readonly port: number;
  /** Destroys every live connection, as a network failure would. */
  cut(): void;
  /** New connections wait, unanswered, until `release()` (existing ones keep working). */
  hold(): void;
  release(): void;
  /** While on, bytes in both directions are dropped; sockets stay open. */
  blackhole(on: boolean): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const live = new Set<Socket>();
  const waiting: Array<() => void> = [];
  let holding = false;
  let dropping = false;

  const pipe = (from: Socket, to: Socket) => {
    from.on('data', (chunk) => {
      if (!dropping && !to.destroyed) to.write(chunk);
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
    if (holding) {
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
      for (const start of waiting.splice(0)) start();
    },
    blackhole: (on) => {
      dropping = on;
    },
    close: async () => {
      for (const socket of live) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
