import type { RopeConfig } from '@skvq/core';
import { ROPE_TABLE_STEP, ropeTable } from '@skvq/formats';

/**
 * RoPE angles for one slice of key positions. The kernel never forms position x frequency
 * in float32 (that loses ~1e-2 rad at 128k tokens): the position splits as
 * hi * ROPE_STEP + lo and the angle-addition formula combines cos/sin(lo f) with
 * cos/sin(hi STEP f), both computed in float64 by @skvq/formats' table and rounded once.
 * Layout: [loCos | loSin] (ROPE_STEP x half each), then the slice's hi rows [hiCos | hiSin].
 */
export const ROPE_STEP = ROPE_TABLE_STEP;

export interface RopeSlice {
  rope: Float32Array;
  /** hi index of the slice's first row (the kernel subtracts it). */
  hiBase: number;
  /** Offset of the hi sine rows. */
  hiSinAt: number;
}

export function ropeSlice(
  headDim: number,
  rope: RopeConfig,
  first: number,
  tokens: number,
): RopeSlice {
  const half = headDim / 2;
  const last = first + tokens - 1;
  const table = ropeTable(headDim, rope, last + 1);
  const hiBase = Math.floor(first / ROPE_STEP);
  const hiRows = Math.floor(last / ROPE_STEP) - hiBase + 1;
  const lo = ROPE_STEP * half;
  const out = new Float32Array(2 * lo + 2 * hiRows * half);
  out.set(table.loCos.subarray(0, lo), 0);
  out.set(table.loSin.subarray(0, lo), lo);
  const hiCosAt = 2 * lo;
  const hiSinAt = hiCosAt + hiRows * half;
  out.set(table.hiCos.subarray(hiBase * half, (hiBase + hiRows) * half), hiCosAt);
  out.set(table.hiSin.subarray(hiBase * half, (hiBase + hiRows) * half), hiSinAt);
  return { rope: out, hiBase, hiSinAt };
}
