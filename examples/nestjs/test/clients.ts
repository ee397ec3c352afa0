import * as signalR from '@microsoft/signalr';
import { afterEach, expect } from 'vitest';

/** How long a client waits for an expected message, in ms. */
export const WAIT_MS = 5_000;
/** How long a negative check ("receives nothing") waits, in ms. */
export const SETTLE_MS = 150;

const started: signalR.HubConnection[] = [];
afterEach(async () => {
  await Promise.allSettled(started.splice(0).map((c) => c.stop()));
});

/** An official SignalR client on `hubUrl`, connected; stopped after the test. */
export async function connect(hubUrl: string): Promise<signalR.HubConnection> {
  const connection = new signalR.HubConnectionBuilder()
    .withUrl(hubUrl)
    .configureLogging(signalR.LogLevel.None)
    .build();
  await connection.start();
  started.push(connection);
  return connection;
}

/** The arguments of the next `ReceiveMessage` the client gets, within {@link WAIT_MS}. */
export function nextMessage(connection: signalR.HubConnection): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      connection.off('ReceiveMessage', handler);
      reject(new Error(`no ReceiveMessage within ${WAIT_MS} ms`));
    }, WAIT_MS);
    const handler = (...args: unknown[]) => {
      clearTimeout(timer);
      connection.off('ReceiveMessage', handler);
      resolve(args);
    };
    connection.on('ReceiveMessage', handler);
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

/** POSTs `body` as JSON. */
export function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}
