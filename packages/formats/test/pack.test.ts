import { type BitWidth, codeBytes, isSkvqError, maxQ, SUPPORTED_BITS } from '@skvq/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packCodes, unpackCodes } from '../src/index.js';

/** Codes of `bits` with lengths 1..256 (every remainder modulo values-per-unit occurs). */
const codesOf = (bits: BitWidth) =>
  fc
    .array(fc.integer({ min: 0, max: maxQ(bits) }), { minLength: 1, maxLength: 256 })
    .map((a) => Uint8Array.from(a));

describe.each(SUPPORTED_BITS.map((b) => [b]))('%s-bit packing', (bits) => {
  it('round trips bit exact for random codes of length 1..256 at any offset', () => {
    fc.assert(
      fc.property(codesOf(bits), fc.integer({ min: 0, max: 7 }), (codes, offset) => {
        const bytes = codeBytes(bits, codes.length);
        // Stale bytes everywhere: packing must overwrite, not OR into them.
        const packed = new Uint8Array(offset + bytes + 3).fill(0xff);
        packCodes(bits, codes, packed, offset);
        const back = new Uint8Array(codes.length);
        unpackCodes(bits, packed, offset, codes.length, back);
        expect(back).toEqual(codes);
        // Neighbouring bytes are untouched.
        for (let i = 0; i < offset; i++) expect(packed[i]).toBe(0xff);
        for (let i = offset + bytes; i < packed.length; i++) expect(packed[i]).toBe(0xff);
      }),
      { numRuns: 200 },
    );
  });

  it('every length 1..256 round trips (deterministic sweep)', () => {
    const maxq = maxQ(bits);
    for (let n = 1; n <= 256; n++) {
      const codes = Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) % (maxq + 1));
      const packed = new Uint8Array(codeBytes(bits, n)).fill(0xff);
      packCodes(bits, codes, packed);
      const back = new Uint8Array(n);
      unpackCodes(bits, packed, 0, n, back);
      expect(back).toEqual(codes);
    }
  });

  it('padding of a partial last unit is zero', () => {
    const packed = new Uint8Array(codeBytes(bits, 1)).fill(0xff);
    packCodes(bits, Uint8Array.of(maxQ(bits)), packed);
    if (bits === 8) expect(packed[0]).toBe(255);
    else expect(packed[0]).toBe(maxQ(bits)); // the code alone, all other bits/trits 0
  });

  it('rejects a code above maxq and a too-small output with INVALID_ARGUMENT', () => {
    if (bits !== 8) {
      const bad = Uint8Array.of(0, maxQ(bits) + 1);
      const out = new Uint8Array(4).fill(9);
      expect(() => packCodes(bits, bad, out)).toThrow(/out of range/);
      expect(out).toEqual(new Uint8Array(4).fill(9));
    }
    const codes = new Uint8Array(16);
    const small = new Uint8Array(codeBytes(bits, 16) - 1);
    try {
      packCodes(bits, codes, small);
      expect.unreachable();
    } catch (error) {
      expect(isSkvqError(error, 'INVALID_ARGUMENT')).toBe(true);
    }
    expect(() => unpackCodes(bits, small, 0, 16, new Uint8Array(16))).toThrow(/does not hold/);
  });
});

describe('ternary decoding', () => {
  it('rejects bytes above 242 (not five trits)', () => {
    expect(() => unpackCodes(1.5, Uint8Array.of(243), 0, 5, new Uint8Array(5))).toThrow(
      /ternary byte 243/,
    );
  });

  it('decodes every valid byte to the digits of its base-3 expansion', () => {
    const out = new Uint8Array(5);
    for (let b = 0; b <= 242; b++) {
      unpackCodes(1.5, Uint8Array.of(b), 0, 5, out);
      expect(out[0]! + 3 * out[1]! + 9 * out[2]! + 27 * out[3]! + 81 * out[4]!).toBe(b);
      expect(Math.max(...out)).toBeLessThanOrEqual(2);
    }
  });
});
