import { type BitWidth, codeBytes, SUPPORTED_BITS } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { decodeFp16, decodeRow, fp16Table, unpackCodes } from '../src/index.js';

function randomPacked(bits: BitWidth, count: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(codeBytes(bits, count) + 3);
  let s = seed;
  for (let i = 0; i < bytes.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    // Ternary bytes above 242 are invalid; keep random bytes valid for that format.
    bytes[i] = bits === 1.5 ? (s >>> 16) % 243 : (s >>> 16) & 0xff;
  }
  return bytes;
}

describe('decodeRow (table decode) against unpackCodes (reference)', () => {
  for (const bits of SUPPORTED_BITS) {
    it(`${bits} bits, row lengths with and without padding, odd offsets`, () => {
      for (const count of [1, 5, 8, 13, 37, 64]) {
        const packed = randomPacked(bits, count, count * 7 + 1);
        for (const offset of [0, 1, 3]) {
          if (offset + codeBytes(bits, count) > packed.length) continue;
          const want = new Uint8Array(count);
          const got = new Uint8Array(count);
          unpackCodes(bits, packed, offset, count, want);
          decodeRow(bits, packed, offset, count, got);
          expect(Array.from(got), `count ${count} offset ${offset}`).toEqual(Array.from(want));
        }
      }
    });
  }

  it('rejects an invalid ternary byte with a typed error', () => {
    const packed = new Uint8Array([7, 250]);
    expect(() => decodeRow(1.5, packed, 0, 10, new Uint8Array(10))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('fp16Table', () => {
  it('matches decodeFp16 on every bit pattern', () => {
    const table = fp16Table();
    for (let h = 0; h < 65536; h++) {
      const want = Math.fround(decodeFp16(h));
      if (!Object.is(table[h], want)) expect(table[h], `bits ${h}`).toBe(want);
    }
  });
});
