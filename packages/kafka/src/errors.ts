import { BrokerError } from '@backplane/core';

/**
 * The brokers refused this client's credentials (SASL), or TLS could not verify a broker's certificate.
 * `connect()` fails with it at once, without retrying: waiting does not fix a wrong password or an unknown
 * CA. The message names the mechanism and the user, never the password; `cause` is the client's own error.
 */
export class KafkaAuthenticationError extends BrokerError {}

/** TLS errors that say the broker's certificate was refused (Node's `tls` codes). */
const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The first error in `error`'s chain (its `cause`s and an aggregate's `errors`) that `test` accepts. */
export function findInChain(error: unknown, test: (e: Error) => boolean, depth = 0): Error | undefined {
  if (!(error instanceof Error) || depth > 8) return undefined;
  if (test(error)) return error;
  const nested: unknown[] = [error.cause];
  if (error instanceof AggregateError) nested.push(...error.errors);
  for (const inner of nested) {
    const found = findInChain(inner, test, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** True for a TLS error about the broker's certificate (anywhere in the chain). */
export function isCertificateError(error: unknown): boolean {
  return (
    findInChain(error, (e) => CERTIFICATE_CODES.has(String((e as { code?: unknown }).code))) !== undefined
  );
}

/**
 * A client's connect error as {@link KafkaAuthenticationError} when the brokers refused the credentials
 * (`isSaslRefusal` recognizes the client's own error) or TLS refused a broker's certificate; anything else
 * as it is. The message names `sasl`'s mechanism and user, never the password.
 */
export function authenticationError(
  error: unknown,
  isSaslRefusal: (e: Error) => boolean,
  sasl: { readonly mechanism: string; readonly username?: string } | undefined,
): unknown {
  if (findInChain(error, isSaslRefusal))
    return new KafkaAuthenticationError(
      !sasl
        ? 'Kafka refused the connection: the broker requires SASL credentials and none were given.'
        : sasl.username === undefined
          ? 'Kafka refused the SASL credentials.'
          : `Kafka refused the SASL credentials (${sasl.mechanism.toUpperCase()} as '${sasl.username}').`,
      { cause: error },
    );
  if (isCertificateError(error))
    return new KafkaAuthenticationError(
      "TLS could not verify the Kafka broker's certificate (set tls.ca to the CA that signed it).",
      { cause: error },
    );
  return error;
}
