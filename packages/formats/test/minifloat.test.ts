import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFp8E4M3, decodeFp16, encodeFp8E4M3, encodeFp16 } from '../src/index.js';

interface Codec {
  name: string;
  codes: number;
  encode(x: number): number;
  decode(bits: number): number;
  isNaNCode(bits: number): boolean;
}

const CODECS: Codec[] = [
  {
    name: 'fp16',
    codes: 1 << 16,
    encode: encodeFp16,
    decode: decodeFp16,
    isNaNCode: (b) => (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0,
  },
  {
    name: 'fp8e4m3',
    codes: 1 << 8,
    encode: encodeFp8E4M3,
    decode: decodeFp8E4M3,
    isNaNCode: (b) => (b & 0x7f) === 0x7f,
  },
];

/**
 * Independent oracle for round-to-nearest-even: the sorted list of all finite non-negative
 * values (from decode), the nearest one found by search, ties to the even code.
 */
function nearestEvenOracle(codec: Codec) {
  const values: { v: number; code: number }[] = [];
  for (let b = 0; b < codec.codes / 2; b++) {
    const v = codec.decode(b);
    if (Number.isFinite(v)) values.push({ v, code: b });
  }
  values.sort((a, b) => a.v - b.v);
  return (abs: number): number => {
    let lo = 0;
    let hi = values.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (values[mid]!.v <= abs) lo = mid;
      else hi = mid;
    }
    const a = values[lo]!;
    const b = values[hi]!;
    const da = abs - a.v;
    const db = b.v - abs;
    if (da < db) return a.code;
    if (db < da) return b.code;
    return a.code % 2 === 0 ? a.code : b.code;
  };
}

describe.each(CODECS.map((c) => [c.name, c] as const))('%s codec', (_name, codec) => {
  it('decode then encode is the identity on every non-NaN code (exhaustive)', () => {
    let nans = 0;
    for (let b = 0; b < codec.codes; b++) {
      const v = codec.decode(b);
      if (codec.isNaNCode(b)) {
        expect(Number.isNaN(v)).toBe(true);
        nans++;
        continue;
      }
      expect(codec.encode(v)).toBe(b);
      expect(Math.fround(v)).toBe(v); // every value is a float32
    }
    expect(nans).toBe(codec.name === 'fp16' ? 2 * 1023 : 2);
  });

  it('encodes NaN to a NaN code', () => {
    expect(codec.isNaNCode(codec.encode(Number.NaN))).toBe(true);
  });

  it('rounds to nearest, ties to even, like an independent search over all values', () => {
    const oracle = nearestEvenOracle(codec);
    const max = codec.decode(codec.name === 'fp16' ? 0x7bff : 0x7e);
    fc.assert(
      fc.property(fc.double({ min: 0, max, noNaN: true }), (x) => {
        expect(codec.encode(x)).toBe(oracle(x));
        expect(codec.encode(-x)).toBe(oracle(x) | (codec.name === 'fp16' ? 0x8000 : 0x80));
      }),
      { numRuns: 2000 },
    );
    // Every midpoint between neighbouring codes is a tie: it goes to the even code.
    for (let b = 0; b + 1 < codec.codes / 2; b++) {
      const a = codec.decode(b);
      const c = codec.decode(b + 1);
      if (!Number.isFinite(c)) break;
      const mid = (a + c) / 2;
      expect(codec.encode(mid)).toBe(b % 2 === 0 ? b : b + 1);
    }
  });
});

describe('known fp16 values', () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [0.333251953125, 0x3555],
    [-0, 0x8000],
  ])('%s <-> 0x%s', (value, bits) => {
    expect(encodeFp16(value)).toBe(bits);
    expect(decodeFp16(bits)).toBe(value);
  });

  it('overflows to infinity from 65520 (the tie above 65504 goes to the even code, Inf)', () => {
    expect(encodeFp16(65519.99)).toBe(0x7bff);
    expect(encodeFp16(65520)).toBe(0x7c00);
    expect(encodeFp16(Number.NEGATIVE_INFINITY)).toBe(0xfc00);
    expect(decodeFp16(0x7c00)).toBe(Number.POSITIVE_INFINITY);
  });

  it('ties to even: 1 + 2^-11 -> 1, 1 + 3 * 2^-11 -> 1 + 2^-9', () => {
    expect(encodeFp16(1 + 2 ** -11)).toBe(0x3c00);
    expect(encodeFp16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(encodeFp16(2 ** -25)).toBe(0); // half the smallest subnormal: tie to 0
    expect(encodeFp16(3 * 2 ** -25)).toBe(2);
  });
});

describe('known fp8 e4m3 values', () => {
  it.each([
    [448, 0x7e], // largest finite
    [-448, 0xfe],
    [1, 0x38],
    [2 ** -6, 0x08], // smallest normal
    [2 ** -9, 0x01], // smallest subnormal
    [7 * 2 ** -9, 0x07], // largest subnormal
    [0.875, 0x36],
  ])('%s <-> 0x%s', (value, bits) => {
    expect(encodeFp8E4M3(value)).toBe(bits);
    expect(decodeFp8E4M3(bits)).toBe(value);
  });

  it('has no infinities: NaN is 0x7F / 0xFF, and overflow past the 448/480 tie gives NaN', () => {
    expect(Number.isNaN(decodeFp8E4M3(0x7f))).toBe(true);
    expect(Number.isNaN(decodeFp8E4M3(0xff))).toBe(true);
    expect(encodeFp8E4M3(464)).toBe(0x7e); // tie between 448 (even code) and 480 (NaN code)
    expect(encodeFp8E4M3(464.01)).toBe(0x7f);
    expect(encodeFp8E4M3(Number.POSITIVE_INFINITY)).toBe(0x7f);
  });

  it('ties to even: 1.0625 -> 1, 1.1875 -> 1.25, 2^-10 -> 0', () => {
    expect(encodeFp8E4M3(1.0625)).toBe(0x38);
    expect(encodeFp8E4M3(1.1875)).toBe(0x3a);
    expect(encodeFp8E4M3(2 ** -10)).toBe(0);
    expect(encodeFp8E4M3(3 * 2 ** -10)).toBe(0x02);
  });
});
