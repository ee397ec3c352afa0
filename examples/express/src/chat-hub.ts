import { Hub } from '@backplane/signalr';

/**
 * The `/chat` hub: the methods clients call. Every send goes through the backplane, so `clients.all` and
 * `clients.group(name)` reach clients connected to any node.
 */
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
}
