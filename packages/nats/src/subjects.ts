import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '@backplane/core';

/**
 * The longest channel token kept reversible, in characters. A NATS server refuses a protocol line longer than
 * `max_control_line` (4 KB by default) by dropping the connection, and nats.js then re-sends the same
 * subscription after every reconnect: one very long group name would keep the whole server's link down.
 */
export const MAX_LITERAL_TOKEN = 512;

/**
 * Channel names become NATS subjects as ONE token after a fixed root: `{root}.{token}`, where `token` is
 *
 * - `base64url(utf-8 name)` for a non-empty, well-formed name whose encoding fits {@link MAX_LITERAL_TOKEN}
 *   (reversible: names up to 384 UTF-8 bytes);
 * - otherwise `~` + `base64url(sha256(utf-16 code units of the name))` (44 characters): long names, the empty
 *   name, and names with lone surrogates, which UTF-8 cannot carry (two of them would encode the same).
 *
 * Base64url uses only `A–Z a–z 0–9 - _`, so a group called `a.b`, `*`, `>` or `with space` can neither act as
 * a wildcard nor split into tokens; `~` never occurs in base64url, so the two forms cannot meet; the first is
 * injective and the second collision-resistant (SHA-256).
 */
export function channelToSubject(root: string, channel: string): string {
  if (channel !== '' && isWellFormed(channel)) {
    const token = Buffer.from(channel, 'utf8').toString('base64url');
    if (token.length <= MAX_LITERAL_TOKEN) return `${root}.${token}`;
  }
  return `${root}.~${createHash('sha256').update(Buffer.from(channel, 'utf16le')).digest('base64url')}`;
}

/** The channel name a reversible subject stands for; `undefined` for hashed or foreign subjects. */
export function subjectToChannel(root: string, subject: string): string | undefined {
  if (!subject.startsWith(`${root}.`)) return undefined;
  const token = subject.slice(root.length + 1);
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  return Buffer.from(token, 'base64url').toString('utf8');
}

/**
 * Checks a subject root: dot-separated tokens of printable characters, no wildcards, no whitespace, no empty
 * token. Throws `InvalidArgumentError` otherwise.
 */
export function validateSubjectRoot(root: string): void {
  const tokens = root.split('.');
  if (root === '' || tokens.some((t) => t === '' || t === '*' || t === '>' || /[\s\0]/.test(t)))
    throw new InvalidArgumentError(
      `subjectRoot '${root}' is not a valid NATS subject prefix (non-empty tokens, no wildcards, no whitespace).`,
    );
}

/** True when `s` has no lone surrogate (String.prototype.isWellFormed, spelled out for the ES2023 lib). */
function isWellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}
