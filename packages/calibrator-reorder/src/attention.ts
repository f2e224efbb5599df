import {
  applyRope,
  type KvGeometry,
  kvHidden,
  queryHidden,
  ropeInverseFrequencies,
} from '@skvq/core';
import { invalid } from './validate.js';

/**
 * Calibration samples of one layer: segments of consecutive tokens of one sequence each
 * (attention never crosses segments). Arrays are pre-RoPE, [count, hidden], row-major.
 */
export interface AttentionSegment {
  count: number;
  /** [count, queryHeads*headDim]. */
  q: Float32Array;
  /** [count, kvHidden]. */
  k: Float32Array;
  /** [count, kvHidden]. */
  v: Float32Array;
  positions: Int32Array;
}

/** Rotates every row of `data` ([count, heads*headDim]) by RoPE at its position (copy). */
export function ropeRows(
  geometry: KvGeometry,
  data: Float32Array,
  heads: number,
  positions: Int32Array,
): Float32Array {
  const out = data.slice();
  const { headDim, rope } = geometry;
  if (rope.style === 'none') return out;
  const inv = ropeInverseFrequencies(headDim, rope.theta);
  const width = heads * headDim;
  for (let t = 0; t < positions.length; t++) {
    applyRope(out, t * width, heads, headDim, rope, positions[t]!, inv);
  }
  return out;
}

/**
 * Reference causal attention of one segment: out[i, h] = softmax_j<=i(q_i,h . k_j,g /
 * sqrt(d)) . v_j,g with RoPE already applied to `qRot` and `kRot`, token j visible to token
 * i when positions[j] <= positions[i], and GQA: query head h reads KV head
 * g = floor(h / (queryHeads / kvHeads)). Float64 accumulation. Returns [count, queryHidden].
 */
export function causalAttention(
  geometry: KvGeometry,
  count: number,
  qRot: Float32Array,
  kRot: Float32Array,
  v: Float32Array,
  positions: Int32Array,
): Float64Array {
  // every read at full precision: no token is ever taken from the alternative arrays
  return mixedCausalAttention(geometry, count, qRot, kRot, kRot, v, v, positions, null);
}

/** Checks a segment's array sizes against the geometry. */
export function checkSegment(geometry: KvGeometry, s: AttentionSegment, where: string): void {
  const c = s.count;
  if (!Number.isInteger(c) || c < 0) invalid(where, `count ${String(c)} must be an integer >= 0`);
  const expect = (name: string, actual: number, expected: number) => {
    if (actual !== expected) {
      invalid(where, `${name} has length ${actual}; expected ${expected}`, { name });
    }
  };
  expect('q', s.q.length, c * queryHidden(geometry));
  expect('k', s.k.length, c * kvHidden(geometry));
  expect('v', s.v.length, c * kvHidden(geometry));
  expect('positions', s.positions.length, c);
}

/** Squared Frobenius norm of a - b and of b (accumulated into `acc` = [num, den]). */
export function accumulateError(
  acc: Float64Array,
  approx: Float64Array,
  exact: Float64Array,
): void {
  for (let i = 0; i < exact.length; i++) {
    const d = approx[i]! - exact[i]!;
    acc[0] = acc[0]! + d * d;
    acc[1] = acc[1]! + exact[i]! * exact[i]!;
  }
}

/**
 * Relative attention-output error ||O(k', v') - O(k, v)||_F / ||O(k, v)||_F over all
 * segments, queries and heads, where `kHat` / `vHat` (one array per segment, pre-RoPE,
 * [count, kvHidden]; null = the original) replace the keys / values. SKVQ.md section 7.
 */
export function attentionOutputError(
  geometry: KvGeometry,
  segments: readonly AttentionSegment[],
  kHat: readonly (Float32Array | null)[] | null,
  vHat: readonly (Float32Array | null)[] | null,
): number {
  const acc = new Float64Array(2);
  segments.forEach((s, i) => {
    checkSegment(geometry, s, `attentionOutputError segment ${i}`);
    const qRot = ropeRows(geometry, s.q, geometry.queryHeads, s.positions);
    const kRot = ropeRows(geometry, s.k, geometry.kvHeads, s.positions);
    const exact = causalAttention(geometry, s.count, qRot, kRot, s.v, s.positions);
    const k2 = kHat?.[i] ? ropeRows(geometry, kHat[i]!, geometry.kvHeads, s.positions) : kRot;
    const v2 = vHat?.[i] ?? s.v;
    accumulateError(acc, causalAttention(geometry, s.count, qRot, k2, v2, s.positions), exact);
  });
  return acc[1]! > 0 ? Math.sqrt(acc[0]! / acc[1]!) : 0;
}

/**
 * Which cache the clip-ratio objective models (SKVQ.md sections 3 and 7): key j is read at
 * full precision by query i when it is an attention sink (position < sinks) or, in the
 * `decode` protocol, inside the query's own window (positions[i] - positions[j] < window);
 * in the `prefill` protocol the window is the segment's last `window` tokens (what a whole
 * text appended at once keeps). Every other read sees the quantized token.
 */
export interface CacheObjective {
  protocol: 'decode' | 'prefill';
  window: number;
  sinks: number;
}

/**
 * Causal attention like `causalAttention`, where query i reads key/value j from `kAltRot` /
 * `vAlt` (the quantized tokens) unless the cache keeps j at full precision for i (see
 * CacheObjective), in which case it reads `kRot` / `v`.
 */
export function cacheAttention(
  geometry: KvGeometry,
  count: number,
  qRot: Float32Array,
  kRot: Float32Array,
  kAltRot: Float32Array,
  v: Float32Array,
  vAlt: Float32Array,
  positions: Int32Array,
  objective: CacheObjective,
): Float64Array {
  const { window, sinks } = objective;
  let last = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < count; j++) last = Math.max(last, positions[j]!);
  return mixedCausalAttention(
    geometry,
    count,
    qRot,
    kRot,
    kAltRot,
    v,
    vAlt,
    positions,
    (i, alt) => {
      const anchor = objective.protocol === 'decode' ? positions[i]! : last;
      for (let j = 0; j < count; j++) {
        const pj = positions[j]!;
        alt[j] = pj >= sinks && anchor - pj >= window ? 1 : 0;
      }
    },
  );
}

/**
 * The one causal attention loop of both functions above: query i reads key/value j from
 * `kAltRot` / `vAlt` where `markAlt(i, alt)` sets alt[j] (null: never), else from `kRot` /
 * `v`. Float64 scores, softmax and accumulation.
 */
function mixedCausalAttention(
  geometry: KvGeometry,
  count: number,
  qRot: Float32Array,
  kRot: Float32Array,
  kAltRot: Float32Array,
  v: Float32Array,
  vAlt: Float32Array,
  positions: Int32Array,
  markAlt: ((i: number, alt: Uint8Array) => void) | null,
): Float64Array {
  const { queryHeads, kvHeads, headDim } = geometry;
  const qw = queryHidden(geometry);
  const kw = kvHidden(geometry);
  const group = queryHeads / kvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const out = new Float64Array(count * qw);
  const scores = new Float64Array(count);
  const alt = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const pi = positions[i]!;
    markAlt?.(i, alt);
    for (let h = 0; h < queryHeads; h++) {
      const g = Math.floor(h / group);
      const qBase = i * qw + h * headDim;
      let best = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < count; j++) {
        if (positions[j]! > pi) {
          scores[j] = Number.NEGATIVE_INFINITY;
          continue;
        }
        const keys = alt[j] ? kAltRot : kRot;
        const kBase = j * kw + g * headDim;
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += qRot[qBase + d]! * keys[kBase + d]!;
        const s = dot * scale;
        scores[j] = s;
        if (s > best) best = s;
      }
      let denom = 0;
      for (let j = 0; j < count; j++) {
        const e = scores[j] === Number.NEGATIVE_INFINITY ? 0 : Math.exp(scores[j]! - best);
        scores[j] = e;
        denom += e;
      }
      const oBase = i * qw + h * headDim;
      for (let j = 0; j < count; j++) {
        const w = scores[j]! / denom;
        if (w === 0) continue;
        const values = alt[j] ? vAlt : v;
        const vBase = j * kw + g * headDim;
        for (let d = 0; d < headDim; d++) out[oBase + d] = out[oBase + d]! + w * values[vBase + d]!;
      }
    }
  }
  return out;
}
