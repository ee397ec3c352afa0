import { BackplaneError } from '@backplane/core';

/** A request was refused: missing, malformed, badly signed or expired token. Answered with 401. */
export class UnauthorizedError extends BackplaneError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_ARGUMENT', message, options);
  }
}
