import {
  applyRope,
  type KvGeometry,
  kvHidden,
  queryHidden,
  ropeInverseFrequencies,
} from '@skvq/core';

/**
 * Plain float64 attention for the GPU tests (the CPU backend is the project's oracle; this
 * keeps the CUDA tests independent of it): keys/values are [length, kvHidden] in position
 * order, already dequantized; pre-RoPE keys are rotated at their positions.
 */
export function referenceAttention(
  geometry: KvGeometry,
  q: Float32Array,
  numQueries: number,
  start: number,
  causal: boolean,
  keys: Float32Array,
  values: Float32Array,
  length: number,
  keysPreRope: boolean,
): Float32Array {
  const { queryHeads: qh, headDim: d } = geometry;
  const c = kvHidden(geometry);
  const group = qh / geometry.kvHeads;
  const inv = ropeInverseFrequencies(d, geometry.rope.theta || 1);
  const k = Float64Array.from(keys);
  if (keysPreRope) {
    for (let p = 0; p < length; p++)
      applyRope(k, p * c, geometry.kvHeads, d, geometry.rope, p, inv);
  }
  const out = new Float32Array(numQueries * queryHidden(geometry));
  const scale = 1 / Math.sqrt(d);
  for (let i = 0; i < numQueries; i++) {
    const qi = Float64Array.from(q.subarray(i * qh * d, (i + 1) * qh * d));
    applyRope(qi, 0, qh, d, geometry.rope, start + i, inv);
    const limit = causal ? Math.min(length, start + i + 1) : length;
    for (let h = 0; h < qh; h++) {
      const kvh = Math.floor(h / group);
      const scores = new Float64Array(limit);
      let max = Number.NEGATIVE_INFINITY;
      for (let p = 0; p < limit; p++) {
        let s = 0;
        for (let x = 0; x < d; x++) s += qi[h * d + x]! * k[p * c + kvh * d + x]!;
        scores[p] = s * scale;
        max = Math.max(max, scores[p]!);
      }
      let sum = 0;
      for (let p = 0; p < limit; p++) {
        scores[p] = Math.exp(scores[p]! - max);
        sum += scores[p]!;
      }
      for (let x = 0; x < d; x++) {
        let acc = 0;
        for (let p = 0; p < limit; p++) acc += scores[p]! * values[p * c + kvh * d + x]!;
        out[i * qh * d + h * d + x] = acc / sum;
      }
    }
  }
  return out;
}
