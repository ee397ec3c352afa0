import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { bearerChallenge } from './auth.js';
import { ForbiddenError, ShuttingDownError, UnauthorizedError } from './errors.js';
import type { TransportKind } from './transport-sender.js';

function httpStatusCode(error: unknown): number {
  if (error instanceof UnauthorizedError) return 401;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof ShuttingDownError) return 503;
  return 404;
}

/** Answers an upgrade refused by `error` (401 with a bearer challenge, 403, 503 or 404) and ends the socket. */
export function refuseUpgradeFor(socket: Duplex, error: unknown): void {
  if (error instanceof UnauthorizedError)
    refuseUpgrade(socket, '401 Unauthorized', `WWW-Authenticate: ${bearerChallenge(error)}\r\n`);
  else if (error instanceof ForbiddenError) refuseUpgrade(socket, '403 Forbidden');
  else refuseUpgrade(socket, httpStatusCode(error) === 503 ? '503 Service Unavailable' : '404 Not Found');
}

/** Answers an upgrade with an HTTP error (and `headers`, whole lines, and a text `body`) and ends the socket. */
export function refuseUpgrade(socket: Duplex, status: string, headers = '', body = ''): void {
  const content = body === '' ? '' : 'Content-Type: text/plain\r\n';
  socket.end(
    `HTTP/1.1 ${status}\r\n${headers}${content}Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** ASP.NET Core's answer (404) to a request on a transport the endpoint does not allow. */
export function transportNotSupported(kind: TransportKind): string {
  return `${kind} transport not supported by this end point type`;
}

/**
 * Answers a request refused by `error`: 401 with an empty body and a bearer challenge (what ASP.NET Core's
 * JWT bearer handler sends, so clients report "Unauthorized"), 403 with an empty body (its forbid), else 503
 * or 404 with the reason.
 */
export function refuse(res: ServerResponse, error: unknown): void {
  if (error instanceof UnauthorizedError)
    return void res.writeHead(401, { 'WWW-Authenticate': bearerChallenge(error), 'Content-Length': 0 }).end();
  if (error instanceof ForbiddenError) return void res.writeHead(403, { 'Content-Length': 0 }).end();
  text(res, httpStatusCode(error), (error as Error).message);
}

/** Answers with `status` and a plain-text `body`. */
export function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain' }).end(body);
}
