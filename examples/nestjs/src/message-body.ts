/** The body of `POST /api/messages`. */
export interface MessageBody {
  /** Shown as the sender. @default 'api' */
  user: string;
  message: string;
  /** Only this group's members receive it. @default everyone */
  group?: string;
}

/** Checks a parsed JSON body; returns the message or an error text for a 400. */
export function parseMessageBody(body: unknown): MessageBody | string {
  if (typeof body !== 'object' || body === null) return 'The body must be a JSON object.';
  const { user = 'api', message, group } = body as Record<string, unknown>;
  if (typeof message !== 'string') return "'message' must be a string.";
  if (typeof user !== 'string') return "'user' must be a string.";
  if (group !== undefined && (typeof group !== 'string' || group === ''))
    return "'group' must be a non-empty string.";
  return group === undefined ? { user, message } : { user, message, group };
}
