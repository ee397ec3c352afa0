/**
 * A hub protocol message (JSON or MessagePack), a record frame or a handshake could not be parsed or
 * written. `cause` holds the parser's own error when there is one.
 */
export class ProtocolError extends Error {
  readonly code = 'ERR_PROTOCOL' as const;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProtocolError';
  }
}
