import type { RopeConfig } from './geometry.js';

/**
 * Rotary position embedding, shared by every package so that the adapter, the calibrator
 * and every backend rotate identically. Pair i of a head rotates by angle
 * `position * theta^(-2i / headDim)`:
 * - 'pairwise' pairs channels (2i, 2i+1) (llama2.c, GGUF llama);
 * - 'half' pairs channels (i, i + headDim/2) (Hugging Face / NeoX).
 * Angles and sines are computed in float64, as llama2.c's run.c computes them in float32
 * from the same formula; the difference is far below the kernels' tolerances.
 */

/** Inverse frequencies theta^(-2i/headDim) for i in [0, headDim/2). */
export function ropeInverseFrequencies(headDim: number, theta: number): Float64Array {
  const half = headDim / 2;
  const out = new Float64Array(half);
  for (let i = 0; i < half; i++) out[i] = theta ** (-(2 * i) / headDim);
  return out;
}

/** Channel indices (a, b) of rotation pair i inside a head. */
export function ropePair(style: RopeConfig['style'], headDim: number, i: number): [number, number] {
  return style === 'half' ? [i, i + headDim / 2] : [2 * i, 2 * i + 1];
}

/**
 * Rotates `heads` consecutive heads of `vec` starting at `offset` in place, as RoPE at
 * `position` (`sign` = -1 applies the inverse rotation).
 */
export function applyRope(
  vec: Float32Array | Float64Array,
  offset: number,
  heads: number,
  headDim: number,
  rope: RopeConfig,
  position: number,
  inverseFrequencies: Float64Array = ropeInverseFrequencies(headDim, rope.theta),
  sign: 1 | -1 = 1,
): void {
  if (rope.style === 'none') return;
  const half = headDim / 2;
  for (let i = 0; i < half; i++) {
    const angle = position * (inverseFrequencies[i] as number);
    const c = Math.cos(angle);
    const s = sign * Math.sin(angle);
    const [pa, pb] = ropePair(rope.style, headDim, i);
    for (let h = 0; h < heads; h++) {
      const base = offset + h * headDim;
      const a = vec[base + pa] as number;
      const b = vec[base + pb] as number;
      vec[base + pa] = a * c - b * s;
      vec[base + pb] = a * s + b * c;
    }
  }
}
