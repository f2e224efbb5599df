import { describe, expect, test } from 'vitest';
import { RANGE_ALIGN, RangeAllocator } from '../src/store/ranges.js';

// The arena bookkeeping of the device storage (no GPU needed).
describe('RangeAllocator (arena ranges)', () => {
  test('hands out aligned ranges first-fit, merges freed neighbours, reports reuse', () => {
    const r = new RangeAllocator(256);
    expect(RangeAllocator.sizeOf(0)).toBe(RANGE_ALIGN);
    expect(RangeAllocator.sizeOf(17)).toBe(32);
    const a = r.take(32);
    const b = r.take(64);
    const c = r.take(32);
    expect([a, b, c]).toEqual([
      { offset: 0, reused: false },
      { offset: 32, reused: false },
      { offset: 96, reused: false },
    ]);
    r.give(0, 32);
    r.give(32, 64); // merges with [0, 32): one free range of 96 bytes
    expect(r.take(96)).toEqual({ offset: 0, reused: true });
    // Freeing the last range lowers the high-water mark, but its bytes count as used.
    r.give(96, 32);
    expect(r.end).toBe(96);
    expect(r.take(48)).toEqual({ offset: 96, reused: true });
    expect(r.take(112)).toEqual({ offset: 144, reused: false });
    expect(r.take(16)).toBeUndefined(); // full
  });

  test('a growing capacity makes room at the end', () => {
    const r = new RangeAllocator(64);
    expect(r.take(64)).toEqual({ offset: 0, reused: false });
    expect(r.take(32)).toBeUndefined();
    r.capacity = 128;
    expect(r.take(32)).toEqual({ offset: 64, reused: false });
  });
});
