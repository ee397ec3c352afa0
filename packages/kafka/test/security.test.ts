import { inspect } from 'node:util';
import { BrokerError } from '@backplane/core';
import { type KafkaBrokerHandle, startKafka, waitFor } from '@backplane/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  KafkaAuthenticationError,
  KafkaDriver,
  type KafkaDriverOptions,
  type KafkaSaslOptions,
} from '../src/index.js';
import { CLIENTS } from './clients.js';

const USER = 'alice';
const PASSWORD = 'alice-s3cret';
const WRONG = 'not-the-password';

let kafka: KafkaBrokerHandle;
const open: KafkaDriver[] = [];
beforeAll(async () => {
  kafka = await startKafka({ sasl: { users: { [USER]: PASSWORD } }, tls: true });
}, 120_000);
afterAll(() => kafka?.stop());
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((t) => t.close()));
});

let topics = 0;

/** Two drivers with `options` on a fresh topic: one publishes, the other must receive it. */
async function exchange(options: KafkaDriverOptions): Promise<void> {
  const topic = `security-${Date.now()}-${topics++}`;
  const [a, b] = [new KafkaDriver({ ...options, topic }), new KafkaDriver({ ...options, topic })];
  open.push(a, b);
  const received: string[] = [];
  b.setMessageHandler((channel, payload) => received.push(`${channel}=${payload[0]}`));
  await a.connect();
  await b.connect();
  await b.subscribe('c');
  await a.publish('c', Uint8Array.of(7));
  await waitFor(() => received.length > 0, { name: 'the message' });
  expect(received).toEqual(['c=7']);
}

/** What `connect()` rejects with (the driver is closed after). */
async function refusal(options: KafkaDriverOptions): Promise<Error> {
  const t = new KafkaDriver({ ...options, topic: 'refused', connectTimeout: 20_000 });
  open.push(t);
  const error = await t.connect().then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  if (!error) throw new Error('connect() succeeded');
  return error;
}

const sasl = (mechanism: KafkaSaslOptions['mechanism'], password = PASSWORD): KafkaSaslOptions => ({
  mechanism,
  username: USER,
  password,
});

for (const client of CLIENTS)
  describe(`kafka security (${client})`, () => {
    for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const)
      it(`kafka security - SASL ${mechanism}: servers that log in exchange messages`, async () => {
        await exchange({ brokers: kafka.saslBootstrap!, sasl: sasl(mechanism), client });
      });

    it('kafka security - a wrong password fails connect() at once with KafkaAuthenticationError naming the user, never the password', async () => {
      const startedAt = Date.now();
      const error = await refusal({ brokers: kafka.saslBootstrap!, sasl: sasl('plain', WRONG), client });
      expect(error).toBeInstanceOf(KafkaAuthenticationError);
      expect(error).toBeInstanceOf(BrokerError);
      expect(error.message).toBe("Kafka refused the SASL credentials (PLAIN as 'alice').");
      // nowhere in the error, its causes and what they carry (responses, nested errors)
      expect(inspect(error, { depth: 12, showHidden: true })).not.toContain(WRONG);
      expect(Date.now() - startedAt).toBeLessThan(20_000); // not retried until the connect timeout
    });

    it('kafka security - SCRAM with a wrong password fails the same way', async () => {
      const error = await refusal({
        brokers: kafka.saslBootstrap!,
        sasl: sasl('scram-sha-512', WRONG),
        client,
      });
      expect(error).toBeInstanceOf(KafkaAuthenticationError);
      expect(error.message).toContain("SCRAM-SHA-512 as 'alice'");
    });

    it('kafka security - TLS with the broker certificate as CA: servers exchange messages', async () => {
      await exchange({ brokers: kafka.tlsBootstrap!, tls: { ca: kafka.tlsCa!.pem }, client });
    });

    it("kafka security - TLS without the broker's CA fails connect() with KafkaAuthenticationError", async () => {
      const error = await refusal({ brokers: kafka.tlsBootstrap!, tls: true, client });
      expect(error).toBeInstanceOf(KafkaAuthenticationError);
      expect(error.message).toMatch(/certificate/);
    });

    it('kafka security - rejectUnauthorized: false accepts the unknown certificate', async () => {
      await exchange({ brokers: kafka.tlsBootstrap!, tls: { rejectUnauthorized: false }, client });
    });

    it('kafka security - SASL SCRAM-SHA-256 over TLS (SASL_SSL)', async () => {
      await exchange({
        brokers: kafka.saslTlsBootstrap!,
        sasl: sasl('scram-sha-256'),
        tls: { ca: kafka.tlsCa!.pem },
        client,
      });
    });
  });
