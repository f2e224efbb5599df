import type { DecodeParts } from '../decode-parts.js';

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

/**
 * Adds each position's probability, averaged over query heads, to attentionSums from the
 * parts' numerators (DecodeParts.scores): exp(s - m_i) e^(m_i - M) / (S queryHeads), where
 * S = sum_i s_i e^(m_i - M): what one thread adds.
 */
export function mergeAttentionSums(
  parts: readonly DecodeParts[],
  queryHeads: number,
  attentionSums: Float32Array,
): void {
  const total = new Float64Array(queryHeads);
  const top = new Float64Array(queryHeads).fill(Number.NEGATIVE_INFINITY);
  for (const part of parts) {
    for (let h = 0; h < queryHeads; h++) top[h] = Math.max(top[h] as number, part.max[h] as number);
  }
  for (const part of parts) {
    for (let h = 0; h < queryHeads; h++) {
      const mi = part.max[h] as number;
      if (mi !== Number.NEGATIVE_INFINITY) {
        total[h] =
          (total[h] as number) + (part.sums[h] as number) * Math.exp(mi - (top[h] as number));
      }
    }
  }
  const w = new Float64Array(queryHeads);
  for (const part of parts) {
    const { scores, scoresFrom = 0 } = part;
    if (scores === undefined) throw new Error('mergeAttentionSums: a part without scores');
    for (let h = 0; h < queryHeads; h++) {
      const mi = part.max[h] as number;
      w[h] =
        mi === Number.NEGATIVE_INFINITY
          ? 0
          : Math.exp(mi - (top[h] as number)) / ((total[h] as number) * queryHeads);
    }
    const span = scores.length / queryHeads;
    for (let t = 0; t < span; t++) {
      const d = t * queryHeads;
      let a = 0;
      for (let h = 0; h < queryHeads; h++) a += (scores[d + h] as number) * (w[h] as number);
      const p = scoresFrom + t;
      attentionSums[p] = (attentionSums[p] as number) + a;
    }
  }
}
