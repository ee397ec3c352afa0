import * as signalR from '@microsoft/signalr';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import { afterEach, expect } from 'vitest';

/** How long a client waits for an expected message, in ms. */
export const WAIT_MS = 5_000;
/** How long a negative check ("receives nothing") waits, in ms. */
export const SETTLE_MS = 150;

export type HttpTransport = 'WebSockets' | 'ServerSentEvents' | 'LongPolling';

const clients: signalR.HubConnection[] = [];
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.stop()));
});

/**
 * An official client on a serve node's `/chat` hub, stopped after the test; `configure` adds to the builder
 * (stateful reconnect, a logger, ...).
 */
export async function connect(
  url: string,
  transport: HttpTransport,
  protocol: 'json' | 'messagepack',
  user: string,
  accessToken?: string,
  configure: (builder: signalR.HubConnectionBuilder) => signalR.HubConnectionBuilder = (b) => b,
): Promise<signalR.HubConnection> {
  let builder = new signalR.HubConnectionBuilder()
    .withUrl(`${url}/chat?user=${user}`, {
      transport: signalR.HttpTransportType[transport],
      ...(accessToken && { accessTokenFactory: () => accessToken }),
    })
    .configureLogging(signalR.LogLevel.None);
  if (protocol === 'messagepack') builder = builder.withHubProtocol(new MessagePackHubProtocol());
  const connection = configure(builder).build();
  await connection.start();
  clients.push(connection);
  return connection;
}

/** The arguments of the next `method` call the client gets, within {@link WAIT_MS}. */
export function next(connection: signalR.HubConnection, method = 'ReceiveMessage'): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${method} within ${WAIT_MS} ms`)), WAIT_MS);
    const handler = (...args: unknown[]) => {
      clearTimeout(timer);
      connection.off(method, handler);
      resolve(args);
    };
    connection.on(method, handler);
  });
}

/** Checks that the client gets no `ReceiveMessage` within {@link SETTLE_MS}. */
export async function nothing(connection: signalR.HubConnection): Promise<void> {
  const got: unknown[] = [];
  const handler = (...args: unknown[]) => got.push(args);
  connection.on('ReceiveMessage', handler);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  connection.off('ReceiveMessage', handler);
  expect(got).toEqual([]);
}
