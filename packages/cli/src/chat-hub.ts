import { Hub, type MethodSchemas, type StandardSchemaV1 } from '@backplane/signalr';

/** How long `AskClient` waits for the asked client's answer, in ms. */
const ASK_TIMEOUT_MS = 30_000;

/** A string argument (a Standard Schema validator: the hub server refuses anything else before the call). */
const text: StandardSchemaV1<string> = {
  '~standard': {
    version: 1,
    vendor: 'backplane',
    validate: (value) =>
      typeof value === 'string' ? { value } : { issues: [{ message: 'Expected a string' }] },
  },
};

/**
 * The `/chat` hub of `backplane serve` (the command-line contract). A demo hub: any client may join any
 * group, send to anyone and `AskClient` any connection; the sender name shown to others is the `user`
 * argument (see `AuthenticatedChatHub` for the name that cannot be forged).
 */
export class ChatHub extends Hub {
  /**
   * Every parameter is a string: a call with anything else (`SendMessage(123, {...})`) gets SignalR's
   * binding failure and is neither run nor broadcast.
   */
  static schemas: MethodSchemas = {
    SendMessage: [text, text],
    JoinGroup: [text],
    LeaveGroup: [text],
    SendToGroup: [text, text, text],
    SendToUser: [text, text, text],
    SendToConnection: [text, text, text],
    SendToOthers: [text, text],
    AskClient: [text, text],
    GroupCount: [text],
    UserOnline: [text],
  };
  /** The name shown to receivers as the sender (`_`-prefixed: not callable by clients). */
  protected _sender(claimed: string): string {
    return claimed;
  }
  async SendMessage(user: string, message: string): Promise<void> {
    await this.clients.all.send('ReceiveMessage', this._sender(user), message);
  }
  async JoinGroup(group: string): Promise<void> {
    await this.groups.add(this.context.connectionId, group);
  }
  async LeaveGroup(group: string): Promise<void> {
    await this.groups.remove(this.context.connectionId, group);
  }
  async SendToGroup(group: string, user: string, message: string): Promise<void> {
    await this.clients.group(group).send('ReceiveMessage', this._sender(user), message);
  }
  async SendToUser(userId: string, user: string, message: string): Promise<void> {
    await this.clients.user(userId).send('ReceiveMessage', this._sender(user), message);
  }
  async SendToConnection(connectionId: string, user: string, message: string): Promise<void> {
    await this.clients.client(connectionId).send('ReceiveMessage', this._sender(user), message);
  }
  async SendToOthers(user: string, message: string): Promise<void> {
    await this.clients.others.send('ReceiveMessage', this._sender(user), message);
  }
  GetConnectionId(): string {
    return this.context.connectionId;
  }
  Echo(value: unknown): unknown {
    return value;
  }
  /** How many connections `group` has on every node (a lower bound when a node did not answer in time). */
  async GroupCount(group: string): Promise<number> {
    return (await this.presence.groupCount(group)).value;
  }
  /** Whether `userId` has a connection on any node (`false` also when its only node did not answer in time). */
  async UserOnline(userId: string): Promise<boolean> {
    return (await this.presence.isUserOnline(userId)).value;
  }
  AskClient(connectionId: string, question: string): Promise<unknown> {
    return this.clients
      .client(connectionId)
      .invoke('Ask', [question], { signal: AbortSignal.timeout(ASK_TIMEOUT_MS) });
  }
}

/** The chat hub behind `--jwt-secret`: the sender shown is the caller's authenticated user id, never its argument. */
export class AuthenticatedChatHub extends ChatHub {
  protected override _sender(_claimed: string): string {
    return this.context.userIdentifier ?? ANONYMOUS;
  }
}

/** The sender shown for an authenticated caller whose token names no user. */
export const ANONYMOUS = 'anonymous';
