import { type BitWidth, type MetaFormat, maxQ } from '@skvq/core';
import { roundMeta } from './meta.js';

/**
 * Floor of the scale, SKVQ.md section 2 (`scale = max((hi - lo) / maxq, 1e-5)`, as in the
 * official code): keeps a zero-range group (a constant token) from dividing by zero.
 */
export const SCALE_FLOOR = Math.fround(1e-5);

/** Stored (already rounded to the metadata format) scale and zero of one group. */
export interface QuantParams {
  scale: number;
  zero: number;
}

/**
 * Scale and zero of one group with values in [min, max] (SKVQ.md section 2), as they are
 * stored. Every step is float32 (Math.fround), so GPU backends reproduce it bit for bit:
 * ```
 * a     = f32(alpha)
 * lo    = f32(a * min)              hi = f32(a * max)
 * zero  = roundDown_meta(lo)                               // largest stored value <= lo
 * scale = roundUp_meta(max(f32(f32(hi - zero) / maxq), SCALE_FLOOR))
 * ```
 * Why directed rounding of the metadata: the codes are computed from the stored values
 * (core/src/layout.ts, arithmetic contract), and rounding zero down and the scale up keeps
 * the stored grid [zero, zero + maxq * scale] covering the whole clipped range [lo, hi], so
 * every value inside it is within half a step of a level (nearest rounding could move the
 * grid's ends inside the range and clip real values). Rounding the scale up also means it
 * can never round to 0: the smallest it gets is the format's smallest positive value
 * (fp8 E4M3's 2^-9 lies above SCALE_FLOOR, so a constant token stores scale 2^-9 there).
 * With fp32 metadata both roundings are the identity and this is exactly the paper's
 * formula. Throws (meta.ts) when lo or the scale lies beyond the format's range.
 */
export function quantParams(
  min: number,
  max: number,
  alpha: number,
  bits: BitWidth,
  meta: MetaFormat,
): QuantParams {
  const maxq = maxQ(bits);
  const a = Math.fround(alpha);
  const lo = Math.fround(a * min);
  const hi = Math.fround(a * max);
  const zero = roundMeta(meta, lo, 'floor');
  const raw = Math.max(Math.fround(Math.fround(hi - zero) / maxq), SCALE_FLOOR);
  const scale = roundMeta(meta, raw, 'ceil');
  return { scale, zero };
}

/**
 * Code of one value: `floor(clamp(f32(f32(x - zero) / scale), 0, maxq) + 0.5)` with the
 * addition in float32 too (a GPU adds 0.5 in float32; in double the result can differ by one
 * just below a half).
 */
export function quantizeValue(x: number, scale: number, zero: number, maxq: number): number {
  const t = Math.fround(Math.fround(x - zero) / scale);
  const c = Math.min(Math.max(t, 0), maxq);
  return Math.floor(Math.fround(c + 0.5));
}

/** Reconstruction of one code: `f32(f32(q * scale) + zero)` (two roundings, no FMA). */
export function dequantizeValue(q: number, scale: number, zero: number): number {
  return Math.fround(Math.fround(q * scale) + zero);
}
