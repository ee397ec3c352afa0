import { describe, expect, it } from 'vitest';
import { ExpiringRecords, readDeadline, stampDeadline } from '../src/expiring-records.js';

const bytes = (...values: number[]) => Uint8Array.from(values);

describe('expiring records', () => {
  it('expiring records - a record reads back until its deadline, then as absent and is dropped', () => {
    const records = new ExpiringRecords();
    records.put('k', bytes(1, 2, 3), 1_000);
    expect(records.get('k', 999)).toEqual(bytes(1, 2, 3));
    expect(records.size).toBe(1);
    // The deadline itself is already expired.
    expect(records.get('k', 1_000)).toBeUndefined();
    expect(records.size).toBe(0);
    // Once dropped, an earlier time does not bring it back.
    expect(records.get('k', 0)).toBeUndefined();
  });

  it('expiring records - without a time, a read uses the clock', () => {
    const records = new ExpiringRecords();
    records.put('live', bytes(1), Date.now() + 60_000);
    records.put('gone', bytes(2), Date.now() - 1);
    expect(records.get('live')).toEqual(bytes(1));
    expect(records.get('gone')).toBeUndefined();
  });

  it('expiring records - a missing key reads as absent', () => {
    expect(new ExpiringRecords().get('none', 0)).toBeUndefined();
  });

  it('expiring records - a put replaces the value and the deadline', () => {
    const records = new ExpiringRecords();
    records.put('k', bytes(1), 100);
    records.put('k', bytes(2), 200);
    expect(records.size).toBe(1);
    expect(records.get('k', 150)).toEqual(bytes(2));
    records.put('k', bytes(3), 100);
    expect(records.get('k', 150)).toBeUndefined();
  });

  it("expiring records - the stored value is a copy: changing the writer's buffer does not change it", () => {
    const records = new ExpiringRecords();
    const whole = bytes(9, 1, 2, 3, 9);
    const view = whole.subarray(1, 4);
    records.put('k', view, 100);
    whole.fill(0);
    const read = records.get('k', 0);
    expect(read).toEqual(bytes(1, 2, 3));
    // Only the view's bytes are kept, in a buffer of their own.
    expect(read?.byteOffset).toBe(0);
    expect(read?.buffer.byteLength).toBe(3);
  });

  it("expiring records - a read is a copy: changing a reader's buffer does not change the record", () => {
    const records = new ExpiringRecords();
    records.put('k', bytes(1, 2), 100);
    const first = records.get('k', 0);
    first?.fill(7);
    const second = records.get('k', 0);
    expect(second).toEqual(bytes(1, 2));
    expect(second).not.toBe(first);
  });

  it('expiring records - delete removes a record, and a missing one quietly', () => {
    const records = new ExpiringRecords();
    records.put('k', bytes(1), 100);
    records.delete('k');
    records.delete('never');
    expect(records.size).toBe(0);
    expect(records.get('k', 0)).toBeUndefined();
  });

  it('expiring records - size counts expired records until they are read or swept', () => {
    const records = new ExpiringRecords();
    records.put('a', bytes(1), 10);
    records.put('b', bytes(2), 20);
    expect(records.size).toBe(2);
    expect(records.sweep(5)).toBe(0);
    expect(records.size).toBe(2);
  });

  it('expiring records - sweep drops exactly the records expired by then and keeps the rest', () => {
    const records = new ExpiringRecords();
    records.put('early', bytes(1), 10);
    records.put('exact', bytes(2), 20);
    records.put('late', bytes(3), 30);
    expect(records.sweep(20)).toBe(2);
    expect(records.size).toBe(1);
    expect(records.get('late', 20)).toEqual(bytes(3));
    expect(records.get('early', 0)).toBeUndefined();
    expect(records.get('exact', 0)).toBeUndefined();
  });

  it('expiring records - without a time, sweep uses the clock', () => {
    const records = new ExpiringRecords();
    records.put('gone', bytes(1), Date.now() - 1);
    records.put('live', bytes(2), Date.now() + 60_000);
    expect(records.sweep()).toBe(1);
    expect(records.size).toBe(1);
    expect(records.get('live')).toEqual(bytes(2));
  });

  it('expiring records - a stamped value reads back with its deadline, also from a view into a larger buffer', () => {
    const stamped = stampDeadline(bytes(7, 8, 9), 1_500, 1_000_000);
    expect(stamped.byteLength).toBe(11);
    expect(readDeadline(stamped)).toEqual({ deadline: 1_001_500, value: bytes(7, 8, 9) });
    const larger = new Uint8Array(20);
    larger.set(stamped, 5);
    expect(readDeadline(larger.subarray(5, 16))).toEqual({ deadline: 1_001_500, value: bytes(7, 8, 9) });
    expect(readDeadline(stampDeadline(bytes(), 0, 5))).toEqual({ deadline: 5, value: bytes() });
  });

  it('expiring records - bytes too short to hold a deadline read as nothing', () => {
    expect(readDeadline(bytes(1, 2, 3, 4, 5, 6, 7))).toBeUndefined();
  });
});
