import { ProtocolError } from './protocol-error.js';

/** The JSON hub protocol's record separator (0x1E), which ends every JSON message and the handshake. */
export const RECORD_SEPARATOR = '\u001e';

/** Appends the record separator to one serialized JSON message. */
export function writeTextRecord(text: string): string {
  return text + RECORD_SEPARATOR;
}

/**
 * Splits text into its records, separators removed. Every record must be terminated: an unterminated
 * last record throws a {@link ProtocolError} (drivers deliver whole frames). Empty input yields `[]`.
 */
export function parseTextRecords(input: string): string[] {
  if (input.length === 0) return [];
  if (!input.endsWith(RECORD_SEPARATOR)) throw new ProtocolError('Message is incomplete.');
  const records = input.split(RECORD_SEPARATOR);
  records.pop();
  return records;
}
