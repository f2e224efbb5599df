import { applyRope, type KvGeometry, queryHidden, ropeInverseFrequencies } from '@skvq/core';

/**
 * Causal full-precision attention over K/V held in plain arrays (no cache): the `prompt`
 * protocol's prefill, whose own attention sees the original keys and values before they are
 * stored quantized. q is [count, queryHidden], k and v are [count, kvHidden] (keys pre-RoPE,
 * rotated here by their positions, the queries by theirs); positions are start .. start +
 * count - 1. Float64 softmax and accumulation, query head h reading KV head
 * floor(h / (queryHeads / kvHeads)), scale 1/sqrt(headDim): the same arithmetic as the CPU
 * backend's reference attention, kept here so that the adapter needs no cache package.
 */
export function causalAttention(
  geometry: KvGeometry,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  count: number,
  start: number,
): Float32Array {
  const { queryHeads, kvHeads, headDim } = geometry;
  const channels = kvHeads * headDim;
  const qHidden = queryHidden(geometry);
  const group = queryHeads / kvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const inv = ropeInverseFrequencies(headDim, geometry.rope.theta);
  const keys = new Float64Array(count * channels);
  for (let t = 0; t < count; t++) {
    for (let c = 0; c < channels; c++) keys[t * channels + c] = k[t * channels + c] as number;
    applyRope(keys, t * channels, kvHeads, headDim, geometry.rope, start + t, inv);
  }
  const out = new Float32Array(count * qHidden);
  const qr = new Float64Array(qHidden);
  const p = new Float64Array(count);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < qHidden; i++) qr[i] = q[r * qHidden + i] as number;
    applyRope(qr, 0, queryHeads, headDim, geometry.rope, start + r, inv);
    for (let h = 0; h < queryHeads; h++) {
      const kvOff = Math.floor(h / group) * headDim;
      let max = Number.NEGATIVE_INFINITY;
      for (let t = 0; t <= r; t++) {
        let dot = 0;
        for (let d = 0; d < headDim; d++)
          dot += (qr[h * headDim + d] as number) * (keys[t * channels + kvOff + d] as number);
        p[t] = dot * scale;
        if (p[t]! > max) max = p[t]!;
      }
      let sum = 0;
      for (let t = 0; t <= r; t++) {
        p[t] = Math.exp(p[t]! - max);
        sum += p[t]!;
      }
      for (let d = 0; d < headDim; d++) {
        let acc = 0;
        for (let t = 0; t <= r; t++) acc += p[t]! * (v[t * channels + kvOff + d] as number);
        out[r * qHidden + h * headDim + d] = acc / sum;
      }
    }
  }
  return out;
}
