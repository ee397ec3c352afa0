import { ProtocolError } from '../errors.js';

/** The JSON hub protocol's record separator. */
export const RECORD_SEPARATOR = '\u001e';

/** Appends the record separator. */
export function writeTextRecord(text: string): string {
  return text + RECORD_SEPARATOR;
}

/** Splits text into records; every record must be terminated (transports deliver whole frames). */
export function parseTextRecords(input: string): string[] {
  if (input.length === 0) return [];
  if (!input.endsWith(RECORD_SEPARATOR)) throw new ProtocolError('Message is incomplete.');
  const records = input.split(RECORD_SEPARATOR);
  records.pop();
  return records;
}
