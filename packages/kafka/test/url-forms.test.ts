import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '@backplane/core';
import { describe, expect, it } from 'vitest';
import { kafkaOptionsFromUrl, parseKafkaUrl, redactKafkaUrl } from '../src/index.js';

const SECRET = 's3cr:et/@pw';
const ENCODED = encodeURIComponent(SECRET);

/** The error `parseKafkaUrl(url)` throws. */
function errorOf(url: string): InvalidArgumentError {
  try {
    parseKafkaUrl(url);
  } catch (error) {
    if (error instanceof InvalidArgumentError) return error;
    throw error;
  }
  throw new Error('parseKafkaUrl accepted a malformed URL');
}

describe('kafka url forms', () => {
  it('url forms - bare host lists, kafka:// and the default port', () => {
    expect(parseKafkaUrl('127.0.0.1:9092')).toEqual({ brokers: ['127.0.0.1:9092'], tls: false });
    expect(parseKafkaUrl('kafka://a:1, b ,[::1]:3')).toEqual({
      brokers: ['a:1', 'b:9092', '[::1]:3'],
      tls: false,
    });
    expect(parseKafkaUrl('KAFKA://h/')).toEqual({ brokers: ['h:9092'], tls: false });
  });

  it('url forms - credentials: SASL PLAIN by default, ?sasl= picks SCRAM; percent-encoded passwords', () => {
    expect(parseKafkaUrl(`kafka://app:${ENCODED}@a:1,b:2`)).toEqual({
      brokers: ['a:1', 'b:2'],
      tls: false,
      sasl: { mechanism: 'plain', username: 'app', password: SECRET },
    });
    expect(parseKafkaUrl('kafka://u:p@h?sasl=SCRAM-SHA-256').sasl).toEqual({
      mechanism: 'scram-sha-256',
      username: 'u',
      password: 'p',
    });
    expect(parseKafkaUrl('kafka://u:p@h?sasl=scram-sha-512').sasl?.mechanism).toBe('scram-sha-512');
  });

  it('url forms - kafkas:// is TLS, with CA, client certificate and rejectUnauthorized; ?client= picks the client', () => {
    expect(
      parseKafkaUrl(
        'kafkas://u:p@h:9093?sasl=scram-sha-512&ca=/etc/ca.pem&cert=c.pem&key=k.pem&client=kafkajs',
      ),
    ).toEqual({
      brokers: ['h:9093'],
      tls: true,
      sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' },
      caFile: '/etc/ca.pem',
      certFile: 'c.pem',
      keyFile: 'k.pem',
      client: 'kafkajs',
    });
    expect(parseKafkaUrl('kafkas://h?rejectUnauthorized=false')).toEqual({
      brokers: ['h:9092'],
      tls: true,
      rejectUnauthorized: false,
    });
    expect(parseKafkaUrl('h:1?client=platformatic').client).toBe('platformatic');
  });

  it('url forms - malformed URLs fail with InvalidArgumentError naming the problem, never repeating the URL', () => {
    const cases: Array<[string, RegExp]> = [
      [`redis://u:${SECRET}@h`, /unknown scheme/],
      [`kafka://u:${ENCODED}@`, /no host/],
      [`kafka://u:${ENCODED}@h:99999`, /port must be a number/],
      [`kafka://u:${ENCODED}@h:1/topic`, /takes no path/],
      [`kafka://u:${ENCODED}@h?sasl=gssapi`, /sasl= must be plain, scram-sha-256 or scram-sha-512/],
      [`kafka://u@h`, /needs a password/],
      [`kafka://:${ENCODED}@h`, /needs a user name/],
      ['kafka://h?sasl=plain', /needs a user and a password/],
      [`kafka://u:${ENCODED}@h?ca=/x.pem`, /needs TLS: use kafkas/],
      [`kafkas://u:${ENCODED}@h?cert=c.pem`, /cert= and \?key= go together/],
      [`kafkas://u:${ENCODED}@h?rejectUnauthorized=no`, /must be true or false/],
      [`kafka://u:${ENCODED}@h?client=rdkafka`, /client= must be platformatic or kafkajs/],
      [`kafka://u:${ENCODED}@h?password=${ENCODED}`, /unsupported query parameter/],
      [`kafka://u:${ENCODED}@h?sasl=plain&sasl=plain`, /repeated/],
      [`kafka://u:%E0%A4%A@h`, /password has a malformed percent-encoding/],
      [`kafka://u:${SECRET}#frag@h`, /fragment/],
      [`u:${ENCODED}@h:1`, /need the kafka:\/\/ or kafkas:\/\/ scheme/],
      [`kafka://u:${ENCODED}@h:1,`, /host #2 is empty/],
    ];
    for (const [url, problem] of cases) {
      const error = errorOf(url);
      expect(error.message, url).toMatch(problem);
      expect(error.message, url).toMatch(/^Invalid Kafka URL: /);
      expect(error.message).not.toContain(SECRET);
      expect(error.message).not.toContain(ENCODED);
      expect(error.message).not.toContain('s3cr');
    }
  });

  it('url forms - kafkaOptionsFromUrl reads the certificate files the URL names; an unreadable one is named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kafka-url-'));
    writeFileSync(join(dir, 'ca.pem'), 'CA PEM');
    expect(kafkaOptionsFromUrl(`kafkas://u:p@h:1?sasl=scram-sha-256&ca=${join(dir, 'ca.pem')}`)).toEqual({
      brokers: ['h:1'],
      sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'p' },
      tls: { ca: 'CA PEM' },
    });
    expect(kafkaOptionsFromUrl('kafkas://h')).toEqual({ brokers: ['h:9092'], tls: {} });
    expect(kafkaOptionsFromUrl('h:1,h:2')).toEqual({ brokers: ['h:1', 'h:2'] });
    expect(() => kafkaOptionsFromUrl(`kafkas://h?ca=${join(dir, 'missing.pem')}`)).toThrow(
      /cannot read the \?ca= file '.*missing\.pem' \(ENOENT\)/,
    );
  });

  it('url forms - redactKafkaUrl hides the password', () => {
    expect(redactKafkaUrl(`kafka://app:${ENCODED}@h:1?sasl=plain`)).toBe('kafka://app:***@h:1?sasl=plain');
    expect(redactKafkaUrl('kafkas://h:1')).toBe('kafkas://h:1');
  });
});
