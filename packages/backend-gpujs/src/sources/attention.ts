import { ATTENTION_CHUNK, NEG_LARGE } from '../constants.js';
import { ROPE_STEP } from '../rope-slice.js';
import { readValueCachedJs, readValueJs, rowFieldsJs, tableCacheJs } from './read-value.js';

/** Compile-time shape of the attention kernels (one compiled pair per distinct shape). */
export interface AttentionShape {
  queryHeads: number;
  kvHeads: number;
  headDim: number;
  /** 'pairwise' / 'half' when keys are rotated inside the kernel, 'none' otherwise. */
  keyRope: 'pairwise' | 'half' | 'none';
}

/**
 * Scores kernel: thread (i, rh) = (slice position, query row x head); the dot product of
 * the (already rotated and softmax-scaled) query with key row i, dequantized channel by
 * channel straight from its packed codes and, for pre-RoPE keys, rotated at its position
 * with cos/sin from the slice's rope table (rope-slice.ts).
 */
export function scoresSource(shape: AttentionShape): string {
  const { headDim, keyRope } = shape;
  const half = headDim / 2;
  const body =
    keyRope === 'none'
      ? `
    for (let d = 0; d < ${headDim}; d++) {
      let kv = 0;
      ${readValueJs('r', 'kb + d', 'kv')}
      s += q[qb + d] * kv;
    }`
      : `
    const hi = Math.floor((p + 0.5) / ${ROPE_STEP}) - hiBase;
    const lo = p - (hi + hiBase) * ${ROPE_STEP};
    for (let k = 0; k < ${half}; k++) {
      const ca = k * ${keyRope === 'half' ? 1 : 2};
      const cb = ca + ${keyRope === 'half' ? half : 1};
      let va = 0;
      let vb = 0;
      ${readValueJs('r', 'kb + ca', 'va')}
      ${readValueJs('r', 'kb + cb', 'vb')}
      const lc = rope[lo * ${half} + k];
      const ls = rope[${ROPE_STEP * half} + lo * ${half} + k];
      const hc = rope[${2 * ROPE_STEP * half} + hi * ${half} + k];
      const hs = rope[hiSinAt + hi * ${half} + k];
      const cs = hc * lc - hs * ls;
      const sn = hs * lc + hc * ls;
      s += q[qb + ca] * (va * cs - vb * sn) + q[qb + cb] * (va * sn + vb * cs);
    }`;
  return `function (q, info, data, rope, hiBase, hiSinAt, p0) {
    const i = this.thread.x;
    const rh = this.thread.y;
    ${rowFieldsJs('r', 'i')}
    if (rB < 0) {
      return 0;
    }
    const h = rh - ${shape.queryHeads} * Math.floor((rh + 0.5) / ${shape.queryHeads});
    const kvh = Math.floor((h + 0.5) / ${shape.queryHeads / shape.kvHeads});
    const qb = rh * ${headDim};
    const kb = kvh * ${headDim};
    const p = p0 + i;
    let s = 0;
    ${body}
    return s;
  }`;
}

/**
 * Chunk max kernel: thread (c, rh) is the largest visible score of chunk c for query row x
 * head rh (NEG_LARGE when the chunk has none), the shift of that chunk's exponentials.
 */
export function chunkMaxSource(shape: AttentionShape): string {
  return `function (scores, info, limits, p0) {
    const c = this.thread.x;
    const rh = this.thread.y;
    const r = Math.floor((rh + 0.5) / ${shape.queryHeads});
    const lim = limits[r] - p0;
    let m = ${NEG_LARGE.toExponential()};
    for (let k = 0; k < ${ATTENTION_CHUNK}; k++) {
      const i = c * ${ATTENTION_CHUNK} + k;
      if (i <= lim && info[i * 4] >= 0) {
        m = Math.max(m, scores[rh][i]);
      }
    }
    return m;
  }`;
}

/**
 * Chunk kernel: thread (d, rh, c) reduces chunk c of the slice for one query row x head:
 * x = d < headDim gives sum exp(s - m) v_d, x = headDim the sum of exp(s - m), x = headDim
 * + 1 the chunk's max m (from the chunk max kernel). Positions past the row's causal limit
 * or the slice's end are skipped. The host merges the chunks of every slice (split-K,
 * flash-decoding style).
 */
export function chunkSource(shape: AttentionShape): string {
  const { headDim } = shape;
  return `function (scores, maxes, info, data, limits, p0) {
    const d = this.thread.x;
    const rh = this.thread.y;
    const c = this.thread.z;
    const r = Math.floor((rh + 0.5) / ${shape.queryHeads});
    const h = rh - r * ${shape.queryHeads};
    const kvh = Math.floor((h + 0.5) / ${shape.queryHeads / shape.kvHeads});
    const vb = kvh * ${headDim} + d;
    const lim = limits[r] - p0;
    const m = maxes[rh][c];
    if (d == ${headDim + 1}) {
      return m;
    }
    ${tableCacheJs('t')}
    let acc = 0;
    for (let k = 0; k < ${ATTENTION_CHUNK}; k++) {
      const i = c * ${ATTENTION_CHUNK} + k;
      ${rowFieldsJs('r', 'i')}
      if (i <= lim && rB >= 0) {
        const e = Math.exp(scores[rh][i] - m);
        if (d == ${headDim}) {
          acc += e;
        } else {
          let v = 0;
          ${readValueCachedJs('r', 'vb', 'v', 't')}
          acc += e * v;
        }
      }
    }
    return acc;
  }`;
}
