/** Error codes Node gives a request or socket the client went away from. */
const ABORT_CODES = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * The client went away mid-request (closed the socket, reset it, aborted the upload): routine on the
 * internet, logged at debug, never an error of the server.
 */
export function isClientAbort(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (typeof code === 'string' && ABORT_CODES.has(code)) || error.message === 'aborted';
}
