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

/** Value channels one chunk-kernel thread accumulates (it returns them as one Array(4)). */
export const CHANNELS_PER_THREAD = 4;

/** Threads along x of the chunk kernel: one per 4 value channels, plus the (sum, max) one. */
export function chunkThreadsX(headDim: number): number {
  return Math.ceil(headDim / CHANNELS_PER_THREAD) + 1;
}

/**
 * Chunk kernel: thread (x, rh, c) reduces chunk c of the slice for one query row x head.
 * x < headDim / 4 returns sum exp(s - m) v_d for its four channels d = 4x .. 4x+3 (sharing
 * the row header, score and exponential between them); the last x returns [sum of
 * exp(s - m), m, 0, 0] with m the chunk max (from the chunk max kernel). Positions past the
 * row's causal limit or the slice's end are skipped. The host merges the chunks of every
 * slice (split-K, flash-decoding style).
 */
export function chunkSource(shape: AttentionShape): string {
  const { headDim } = shape;
  const quads = chunkThreadsX(headDim) - 1;
  const lanes = [0, 1, 2, 3];
  return `function (scores, maxes, info, data, limits, p0) {
    const x = this.thread.x;
    const rh = this.thread.y;
    const c = this.thread.z;
    const r = Math.floor((rh + 0.5) / ${shape.queryHeads});
    const h = rh - r * ${shape.queryHeads};
    const kvh = Math.floor((h + 0.5) / ${shape.queryHeads / shape.kvHeads});
    const lim = limits[r] - p0;
    const m = maxes[rh][c];
    ${lanes.map((j) => `const d${j} = Math.min(x * 4 + ${j}, ${headDim - 1});`).join('\n    ')}
    ${lanes.map((j) => `const vb${j} = kvh * ${headDim} + d${j};`).join('\n    ')}
    ${lanes.map((j) => tableCacheJs(`t${j}`)).join('')}
    let sum = 0;
    ${lanes.map((j) => `let acc${j} = 0;`).join('\n    ')}
    for (let k = 0; k < ${ATTENTION_CHUNK}; k++) {
      const i = c * ${ATTENTION_CHUNK} + k;
      ${rowFieldsJs('r', 'i')}
      if (i <= lim && rB >= 0) {
        const e = Math.exp(scores[rh][i] - m);
        if (x == ${quads}) {
          sum += e;
        } else {
          ${lanes
            .map(
              (j) => `let v${j} = 0;
          ${readValueCachedJs('r', `vb${j}`, `v${j}`, `t${j}`)}
          acc${j} += e * v${j};`,
            )
            .join('\n          ')}
        }
      }
    }
    if (x == ${quads}) {
      return [sum, m, 0, 0];
    }
    return [acc0, acc1, acc2, acc3];
  }`;
}
