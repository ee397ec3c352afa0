/**
 * Channel names become NATS subjects as ONE token: `{root}.{base64url(utf-8 name)}`. Base64url uses only
 * `A–Z a–z 0–9 - _`, so a group called `a.b`, `*`, `>` or `with space` can neither act as a wildcard nor
 * split into tokens, and the mapping is injective (no two channels share a subject).
 */
export function channelToSubject(root: string, channel: string): string {
  return `${root}.${Buffer.from(channel, 'utf8').toString('base64url')}`;
}
