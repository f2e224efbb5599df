import { isSkvqError, META_BYTES, type MetaFormat, SUPPORTED_META_FORMATS } from '@skvq/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { META_MAX, META_MIN_POSITIVE, readMeta, roundMeta, writeMeta } from '../src/index.js';

describe.each(SUPPORTED_META_FORMATS.map((f) => [f]))('%s metadata', (format) => {
  const max = META_MAX[format];
  const inRange = fc.double({ min: -max, max, noNaN: true });

  it('readMeta(writeMeta(x)) equals roundMeta(x), at any byte alignment', () => {
    fc.assert(
      fc.property(inRange, fc.integer({ min: 0, max: 5 }), (x, offset) => {
        const bytes = new Uint8Array(offset + META_BYTES[format] + 2).fill(0x5a);
        writeMeta(format, bytes, offset, x);
        expect(readMeta(format, bytes, offset)).toBe(roundMeta(format, x));
        expect(bytes[offset + META_BYTES[format]]).toBe(0x5a);
        if (offset > 0) expect(bytes[offset - 1]).toBe(0x5a);
      }),
      { numRuns: 500 },
    );
  });

  it('floor <= x <= ceil, both stored exactly, and nearest is one of them', () => {
    fc.assert(
      fc.property(inRange, (x) => {
        const down = roundMeta(format, x, 'floor');
        const up = roundMeta(format, x, 'ceil');
        const near = roundMeta(format, x);
        expect(down).toBeLessThanOrEqual(x);
        expect(up).toBeGreaterThanOrEqual(x);
        expect([down, up]).toContain(near);
        expect(roundMeta(format, down)).toBe(down);
        expect(roundMeta(format, up)).toBe(up);
        if (down === up) expect(down).toBe(x);
      }),
      { numRuns: 500 },
    );
  });

  it('the smallest positive value is stored, and a tiny positive rounds up to it', () => {
    expect(roundMeta(format, META_MIN_POSITIVE[format])).toBe(META_MIN_POSITIVE[format]);
    expect(roundMeta(format, META_MIN_POSITIVE[format] / 3, 'ceil')).toBe(
      META_MIN_POSITIVE[format],
    );
  });

  it('rejects values beyond the range and non-finite values, writing nothing', () => {
    const bytes = new Uint8Array(8);
    const cases: [number, string][] = [
      [max * 2, 'INVALID_ARGUMENT'],
      [-max * 2, 'INVALID_ARGUMENT'],
      [Number.NaN, 'NON_FINITE_INPUT'],
      [Number.POSITIVE_INFINITY, 'NON_FINITE_INPUT'],
    ];
    for (const [x, code] of cases) {
      try {
        writeMeta(format, bytes, 0, x);
        expect.unreachable();
      } catch (error) {
        expect(isSkvqError(error, code as 'INVALID_ARGUMENT')).toBe(true);
        if (code === 'INVALID_ARGUMENT') expect((error as Error).message).toContain(String(max));
      }
      expect(() => roundMeta(format, x)).toThrow();
    }
    expect(bytes).toEqual(new Uint8Array(8));
  });

  it('rejects an offset that does not fit', () => {
    const bytes = new Uint8Array(META_BYTES[format]);
    expect(() => writeMeta(format, bytes, 1, 1)).toThrow(/does not fit/);
    expect(() => readMeta(format, bytes, -1)).toThrow(/does not fit/);
  });
});

describe('byte order', () => {
  it('is little-endian', () => {
    const bytes = new Uint8Array(4);
    writeMeta('fp16', bytes, 1, 1); // 0x3C00
    expect(Array.from(bytes)).toEqual([0, 0x00, 0x3c, 0]);
    writeMeta('fp32', bytes, 0, 1); // 0x3F800000
    expect(Array.from(bytes)).toEqual([0x00, 0x00, 0x80, 0x3f]);
    writeMeta('fp8e4m3', bytes, 3, -448);
    expect(bytes[3]).toBe(0xfe);
  });

  it('rejects an unknown format', () => {
    expect(() => roundMeta('bf16' as MetaFormat, 1)).toThrow(/unsupported metadata format bf16/);
  });
});
