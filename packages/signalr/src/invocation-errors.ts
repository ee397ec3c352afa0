import { HubError } from '@backplane/core';

/** A call refused before it ran: `message` is the whole error completion. */
export class Refusal extends Error {
  constructor(
    message: string,
    readonly outcome: 'invalid' | 'unauthorized',
  ) {
    super(message);
  }
}

/** SignalR's answer to arguments that do not bind (its binding failure, an `InvalidDataException`). */
export function bindingErrorText(target: string, detailedErrors: boolean): string {
  const failed = `Failed to invoke '${target}' due to an error on the server.`;
  return detailedErrors
    ? `${failed} InvalidDataException: Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.`
    : failed;
}

export function invokeErrorText(target: string, error: unknown, detailedErrors: boolean): string {
  return errorText(`An unexpected error occurred invoking '${target}' on the server.`, error, detailedErrors);
}

/** SignalR's `ErrorMessageHelper`: details for `HubError` (named HubException, as clients expect) or when enabled. */
export function errorText(message: string, error: unknown, detailedErrors: boolean): string {
  if (error instanceof HubError) return `${message} HubException: ${error.message}`;
  if (!detailedErrors) return message;
  return error instanceof Error
    ? `${message} ${error.name}: ${error.message}`
    : `${message} ${String(error)}`;
}
