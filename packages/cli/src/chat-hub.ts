import { Hub } from '@backplane/signalr';

/** How long `AskClient` waits for the asked client's answer, in ms. */
const ASK_TIMEOUT_MS = 30_000;

/** The `/chat` hub of `backplane serve` (the command-line contract). */
export class ChatHub extends Hub {
  async SendMessage(user: string, message: string): Promise<void> {
    await this.clients.all.send('ReceiveMessage', user, message);
  }
  async JoinGroup(group: string): Promise<void> {
    await this.groups.add(this.context.connectionId, group);
  }
  async LeaveGroup(group: string): Promise<void> {
    await this.groups.remove(this.context.connectionId, group);
  }
  async SendToGroup(group: string, user: string, message: string): Promise<void> {
    await this.clients.group(group).send('ReceiveMessage', user, message);
  }
  async SendToUser(userId: string, user: string, message: string): Promise<void> {
    await this.clients.user(userId).send('ReceiveMessage', user, message);
  }
  async SendToConnection(connectionId: string, user: string, message: string): Promise<void> {
    await this.clients.client(connectionId).send('ReceiveMessage', user, message);
  }
  async SendToOthers(user: string, message: string): Promise<void> {
    await this.clients.others.send('ReceiveMessage', user, message);
  }
  GetConnectionId(): string {
    return this.context.connectionId;
  }
  Echo(value: unknown): unknown {
    return value;
  }
  AskClient(connectionId: string, question: string): Promise<unknown> {
    return this.clients
      .client(connectionId)
      .invoke('Ask', [question], { signal: AbortSignal.timeout(ASK_TIMEOUT_MS) });
  }
}
