import type { DecodeParts } from '../fused-decode.js';

/**
 * Exact merge of split-K decode parts (flash-decoding): each part holds, per query head,
 * the max m_i of its scores, s_i = sum exp(score - m_i) and a_i = sum exp(score - m_i) v.
 * With M = max_i m_i, the softmax over all positions is sum_i a_i e^(m_i - M) divided by
 * sum_i s_i e^(m_i - M): the same numbers one thread computes, up to rounding. A part whose
 * max is -Infinity (it saw no position) adds nothing.
 */
export function mergeDecodeParts(
  parts: readonly DecodeParts[],
  queryHeads: number,
  headDim: number,
): Float32Array {
  const out = new Float32Array(queryHeads * headDim);
  const acc = new Float64Array(headDim);
  for (let h = 0; h < queryHeads; h++) {
    let m = Number.NEGATIVE_INFINITY;
    for (const part of parts) m = Math.max(m, part.max[h] as number);
    acc.fill(0);
    let sum = 0;
    for (const part of parts) {
      const mi = part.max[h] as number;
      if (mi === Number.NEGATIVE_INFINITY) continue;
      const w = Math.exp(mi - m);
      sum += (part.sums[h] as number) * w;
      const o = h * headDim;
      for (let d = 0; d < headDim; d++)
        acc[d] = (acc[d] as number) + (part.acc[o + d] as number) * w;
    }
    const inv = 1 / sum;
    for (let d = 0; d < headDim; d++) out[h * headDim + d] = (acc[d] as number) * inv;
  }
  return out;
}
