import { BackplaneError } from '@backplane/core';

/** A bad flag or an unusable setting: printed as one line, exit code 2, never a stack trace. */
export class UsageError extends BackplaneError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_ARGUMENT', message, options);
  }
}
