import { type KafkaBrokerHandle, startKafka } from '@backplane/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, next } from './chat-client.js';
import { runCli, type ServeProcess, startServe } from './serve-process.js';

const USER = 'alice';
const PASSWORD = 'alice-s3cret';
const WRONG = 'wrong-pw';

let kafka: KafkaBrokerHandle;
beforeAll(async () => {
  kafka = await startKafka({ sasl: { users: { [USER]: PASSWORD } }, tls: true });
}, 120_000);
afterAll(() => kafka?.stop());

/** Two serve processes on `url` (one prefix each run: a topic of their own); a message crosses them. */
async function crossNodes(url: string, prefix: string): Promise<void> {
  const nodes: ServeProcess[] = [];
  try {
    for (const id of ['east', 'west'])
      nodes.push(
        await startServe([
          '--driver',
          'kafka',
          '--url',
          url,
          '--prefix',
          prefix,
          '--node-id',
          id,
          '--token-secret',
          's3cret',
        ]),
      );
    const a = await connect(nodes[0]!.url, 'WebSockets', 'json', 'alice');
    const b = await connect(nodes[1]!.url, 'WebSockets', 'json', 'bob');
    const got = next(b);
    await a.invoke('SendMessage', 'alice', 'over sasl');
    expect(await got).toEqual(['alice', 'over sasl']);
    await Promise.all([a.stop(), b.stop()]);
  } finally {
    await Promise.allSettled(nodes.map((n) => n.stop()));
  }
}

describe('backplane serve on a Kafka with SASL and TLS', () => {
  for (const client of ['platformatic', 'kafkajs'])
    it(`serve kafka auth - kafka://user:pass@ (SASL PLAIN) carries messages between two nodes (${client})`, async () => {
      await crossNodes(
        `kafka://${USER}:${PASSWORD}@${kafka.saslBootstrap}?client=${client}`,
        `plain-${client}:`,
      );
    }, 60_000);

  it('serve kafka auth - kafkas://user:pass@…?sasl=scram-sha-512&ca=<file> (SCRAM over TLS) carries messages', async () => {
    const url = `kafkas://${USER}:${PASSWORD}@${kafka.saslTlsBootstrap}?sasl=scram-sha-512&ca=${encodeURIComponent(kafka.tlsCa!.file)}`;
    await crossNodes(url, 'scram-tls:');
  }, 60_000);

  it('serve kafka auth - a wrong password exits 2 with one line naming the user, never the password', async () => {
    const { code, output } = await runCli([
      'serve',
      '--driver',
      'kafka',
      '--url',
      `kafka://${USER}:${WRONG}@${kafka.saslBootstrap}`,
      '--token-secret',
      'x',
    ]);
    expect(code).toBe(2);
    expect(output).toMatch(/^backplane: Kafka refused the SASL credentials \(PLAIN as 'alice'\)\./m);
    expect(output).not.toContain(WRONG);
    expect(output).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('serve kafka auth - a malformed Kafka URL exits 2 without echoing it', async () => {
    const { code, output } = await runCli([
      'serve',
      '--driver',
      'kafka',
      '--url',
      `kafka://${USER}:${WRONG}@${kafka.saslBootstrap}?sasl=kerberos`,
      '--token-secret',
      'x',
    ]);
    expect(code).toBe(2);
    expect(output.trim().split('\n')).toHaveLength(1);
    expect(output).toMatch(/^backplane: Invalid Kafka URL: \?sasl= must be plain/);
    expect(output).not.toContain(WRONG);
  });
});
