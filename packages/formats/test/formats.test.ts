import { type BitWidth, codeBytes, maxQ, SUPPORTED_BITS } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { formatOf, PACKED_FORMATS, packCodes } from '../src/index.js';

describe('PACKED_FORMATS', () => {
  it('has one descriptor per supported bit width, keyed by String(bits)', () => {
    expect(Object.keys(PACKED_FORMATS).sort()).toEqual(SUPPORTED_BITS.map(String).sort());
    for (const bits of SUPPORTED_BITS) expect(formatOf(bits).bits).toBe(bits);
  });

  it('descriptors agree with the byte contract codeBytes of @skvq/core', () => {
    for (const bits of SUPPORTED_BITS) {
      const f = formatOf(bits);
      expect(f.bitsPerElement).toBeCloseTo((8 * f.bytesPerUnit) / f.valuesPerUnit, 12);
      for (let units = 1; units <= 5; units++) {
        expect(codeBytes(bits, units * f.valuesPerUnit)).toBe(units * f.bytesPerUnit);
      }
    }
  });

  it('rejects an unsupported bit width with the typed error', () => {
    expect(() => formatOf(5 as BitWidth)).toThrow(/unsupported bits 5/);
  });
});

/** [bits, count, expected bytes], computed by hand from the layouts in formats.ts. */
const BYTE_SIZES: readonly [BitWidth, number, number][] = [
  [8, 1, 1],
  [8, 128, 128],
  [4, 1, 1],
  [4, 3, 2],
  [4, 128, 64],
  [3, 1, 1],
  [3, 3, 2], // 9 bits
  [3, 8, 3],
  [3, 9, 4], // 27 bits
  [3, 128, 48],
  [2, 1, 1],
  [2, 5, 2],
  [2, 128, 32],
  [1.5, 1, 1],
  [1.5, 5, 1],
  [1.5, 6, 2],
  [1.5, 128, 26], // 25 full bytes + 3 trits
  [1.5, 4096, 820], // 819.2 -> 820: the row padding averageBits counts
];

describe('byte size of every format', () => {
  it.each(BYTE_SIZES)('%s bits x %s codes -> %s bytes', (bits, count, bytes) => {
    expect(codeBytes(bits, count)).toBe(bytes);
    // packCodes writes exactly that many bytes: the byte after them stays untouched.
    const out = new Uint8Array(bytes + 1).fill(0xaa);
    packCodes(bits, new Uint8Array(count).fill(maxQ(bits)), out, 0);
    expect(out[bytes]).toBe(0xaa);
    expect(out[bytes - 1]).not.toBe(0xaa);
  });
});

describe('bit diagrams', () => {
  const pack = (bits: BitWidth, codes: number[]) => {
    const out = new Uint8Array(codeBytes(bits, codes.length));
    packCodes(bits, Uint8Array.from(codes), out);
    return Array.from(out);
  };

  it('4-bit: element 2i in the low nibble', () => {
    expect(pack(4, [0x1, 0x2, 0xf])).toEqual([0x21, 0x0f]);
  });

  it('2-bit: element 4i+j in bits [2j, 2j+2)', () => {
    expect(pack(2, [1, 2, 3, 0, 3])).toEqual([0b00_11_10_01, 0b11]);
  });

  it('3-bit: element i in row bits [3i, 3i+3), little-endian', () => {
    // bits, low first: 000 100 010 110 001 101 011 111 (codes 0..7, each written LSB first)
    const row = [0, 1, 2, 3, 4, 5, 6, 7].reduce((acc, q, i) => acc + q * 2 ** (3 * i), 0);
    expect(pack(3, [0, 1, 2, 3, 4, 5, 6, 7])).toEqual([row & 0xff, (row >> 8) & 0xff, row >> 16]);
    expect(pack(3, [7, 7, 7])).toEqual([0xff, 0x01]);
  });

  it('ternary: byte = t0 + 3 t1 + 9 t2 + 27 t3 + 81 t4; a partial byte uses leading trits', () => {
    expect(pack(1.5, [1, 2, 0, 1, 2])).toEqual([1 + 6 + 0 + 27 + 162]);
    expect(pack(1.5, [2, 2, 2, 2, 2, 2, 1])).toEqual([242, 2 + 3]);
  });
});
