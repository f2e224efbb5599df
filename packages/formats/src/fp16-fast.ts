import { fp16Table } from './decode-tables.js';

/**
 * Fast float32 <-> IEEE binary16 conversion for full-precision rows stored as fp16
 * (FpSegment precision 'fp16': a Uint16Array of binary16 bits). Round to nearest, ties to
 * even, like a hardware conversion; NaN stays NaN, overflow becomes Infinity. The
 * reference is the generic minifloat codec (minifloat.ts: encodeFp16 / decodeFp16);
 * test/fp16-fast.test.ts checks this fast path against it over every fp16 value.
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** binary16 bits of `x` (round to nearest even). */
export function f32ToF16Bits(x: number): number {
  scratchF32[0] = x;
  const b = scratchU32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal result: value = m * 2^-24 with m = (1.mant) >> (14 - e).
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/** float value of binary16 bits (a lookup in the shared decode table). */
export function f16BitsToF32(bits: number): number {
  return fp16Table()[bits & 0xffff]!;
}

/** Encodes src[srcOffset .. +n) into dst[dstOffset ..) as binary16 bits. */
export function encodeF16Array(
  src: Float32Array,
  srcOffset: number,
  dst: Uint16Array,
  dstOffset: number,
  n: number,
): void {
  for (let i = 0; i < n; i++) dst[dstOffset + i] = f32ToF16Bits(src[srcOffset + i]!);
}

/** Decodes binary16 bits src[srcOffset .. +n) into dst[dstOffset ..). */
export function decodeF16Array(
  src: Uint16Array,
  srcOffset: number,
  dst: Float32Array,
  dstOffset: number,
  n: number,
): void {
  const table = fp16Table();
  for (let i = 0; i < n; i++) dst[dstOffset + i] = table[src[srcOffset + i]!]!;
}
