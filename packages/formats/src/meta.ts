import { assertMetaFormat, META_BYTES, type MetaFormat, SkvqError } from '@skvq/core';
import {
  decodeMinifloat,
  encodeMinifloat,
  FP8_E4M3,
  FP16,
  type MinifloatSpec,
} from './minifloat.js';

/** Largest finite float32: (2 - 2^-23) * 2^127. */
const FP32_MAX = 3.4028234663852886e38;

/** Largest finite value each metadata format stores (fp16 65504, E4M3FN 448). */
export const META_MAX: Readonly<Record<MetaFormat, number>> = Object.freeze({
  fp32: FP32_MAX,
  fp16: 65504,
  fp8e4m3: 448,
});

/** Smallest positive value each format stores (the subnormal step): 2^-149, 2^-24, 2^-9. */
export const META_MIN_POSITIVE: Readonly<Record<MetaFormat, number>> = Object.freeze({
  fp32: 2 ** -149,
  fp16: 2 ** -24,
  fp8e4m3: 2 ** -9,
});

const SPECS: Readonly<Record<'fp16' | 'fp8e4m3', MinifloatSpec>> = {
  fp16: FP16,
  fp8e4m3: FP8_E4M3,
};

/** Rounding of a value to a metadata format: nearest-even, or toward -Inf / +Inf. */
export type MetaRounding = 'nearest-even' | 'floor' | 'ceil';

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The float32 next to `f` (a float32) toward +Inf (dir 1) or -Inf (dir -1). */
function f32Step(f: number, dir: 1 | -1): number {
  if (f === 0) return dir * 2 ** -149;
  f32Scratch[0] = f;
  // For positive floats a larger bit pattern is a larger value; for negative ones, smaller.
  u32Scratch[0] = u32Scratch[0]! + (f > 0 === (dir === 1) ? 1 : -1);
  return f32Scratch[0]!;
}

function checkRange(format: MetaFormat, x: number, where: string): void {
  if (!Number.isFinite(x)) {
    throw new SkvqError(
      'NON_FINITE_INPUT',
      `${where}: cannot store ${x} as ${format}; scale and zero must be finite`,
      { details: { value: x, format } },
    );
  }
  const max = META_MAX[format];
  if (Math.abs(x) > max) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: ${x} is out of the ${format} range [-${max}, ${max}]; the activations are too large for this metadata format (use fp16 or fp32 metadata)`,
      { details: { value: x, format, max } },
    );
  }
}

/**
 * The value `x` becomes after being stored in `format` and loaded again, with the given
 * rounding (default nearest-even, which is what writeMeta does). Throws NON_FINITE_INPUT
 * for NaN/Inf and INVALID_ARGUMENT for |x| beyond the format's largest finite value:
 * metadata is never silently saturated.
 */
export function roundMeta(
  format: MetaFormat,
  x: number,
  rounding: MetaRounding = 'nearest-even',
): number {
  assertMetaFormat(format, 'roundMeta');
  checkRange(format, x, 'roundMeta');
  if (format === 'fp32') {
    const f = Math.fround(x);
    if (rounding === 'floor' && f > x) return f32Step(f, -1);
    if (rounding === 'ceil' && f < x) return f32Step(f, 1);
    return f;
  }
  const spec = SPECS[format];
  const v = decodeMinifloat(spec, encodeMinifloat(spec, x, rounding));
  // |x| <= max, so only a directed step past the largest finite value is left to catch.
  if (!Number.isFinite(v)) checkRange(format, v, 'roundMeta');
  return v;
}

/**
 * Stores x (rounded to nearest-even) at bytes[byteOffset ..] little-endian, any alignment.
 * Same range rules as roundMeta.
 */
export function writeMeta(
  format: MetaFormat,
  bytes: Uint8Array,
  byteOffset: number,
  x: number,
): void {
  assertMetaFormat(format, 'writeMeta');
  checkBounds(format, bytes, byteOffset, 'writeMeta');
  checkRange(format, x, 'writeMeta');
  switch (format) {
    case 'fp32': {
      f32Scratch[0] = x;
      const u = u32Scratch[0]!;
      bytes[byteOffset] = u & 0xff;
      bytes[byteOffset + 1] = (u >>> 8) & 0xff;
      bytes[byteOffset + 2] = (u >>> 16) & 0xff;
      bytes[byteOffset + 3] = u >>> 24;
      return;
    }
    case 'fp16': {
      const h = encodeMinifloat(FP16, x);
      checkRange(format, decodeMinifloat(FP16, h), 'writeMeta');
      bytes[byteOffset] = h & 0xff;
      bytes[byteOffset + 1] = h >>> 8;
      return;
    }
    case 'fp8e4m3': {
      const b = encodeMinifloat(FP8_E4M3, x);
      checkRange(format, decodeMinifloat(FP8_E4M3, b), 'writeMeta');
      bytes[byteOffset] = b;
      return;
    }
  }
}

/** Loads a stored value from bytes[byteOffset ..] (little-endian, any alignment). */
export function readMeta(format: MetaFormat, bytes: Uint8Array, byteOffset: number): number {
  assertMetaFormat(format, 'readMeta');
  checkBounds(format, bytes, byteOffset, 'readMeta');
  switch (format) {
    case 'fp32':
      u32Scratch[0] =
        bytes[byteOffset]! |
        (bytes[byteOffset + 1]! << 8) |
        (bytes[byteOffset + 2]! << 16) |
        (bytes[byteOffset + 3]! << 24);
      return f32Scratch[0]!;
    case 'fp16':
      return decodeMinifloat(FP16, bytes[byteOffset]! | (bytes[byteOffset + 1]! << 8));
    case 'fp8e4m3':
      return decodeMinifloat(FP8_E4M3, bytes[byteOffset]!);
  }
}

function checkBounds(format: MetaFormat, bytes: Uint8Array, byteOffset: number, where: string) {
  const size = META_BYTES[format];
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset + size > bytes.length) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: ${size}-byte ${format} value at offset ${byteOffset} does not fit in ${bytes.length} bytes`,
      { details: { byteOffset, length: bytes.length, format } },
    );
  }
}
