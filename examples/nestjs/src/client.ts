import { createInterface } from 'node:readline';
import * as signalR from '@microsoft/signalr';

// A terminal chat client on the official SignalR client: prints what the hub sends, sends what you type.
const url = process.argv[2] ?? 'http://127.0.0.1:3000/chat';
const user = process.argv[3] ?? `user-${process.pid}`;

const connection = new signalR.HubConnectionBuilder()
  .withUrl(url)
  .withAutomaticReconnect()
  .configureLogging(signalR.LogLevel.Warning)
  .build();
connection.on('ReceiveMessage', (from: string, message: string) => console.log(`${from}: ${message}`));
await connection.start();
console.log(`connected to ${url} as ${user}: type a message, '/join GROUP', or Ctrl+D to quit`);

for await (const line of createInterface({ input: process.stdin })) {
  if (line.startsWith('/join ')) await connection.invoke('JoinGroup', line.slice('/join '.length).trim());
  else if (line.trim() !== '') await connection.invoke('SendMessage', user, line);
}
await connection.stop();
