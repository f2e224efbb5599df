import { ATTENTION_CHUNK, NEG_LARGE } from '../constants.js';
import { ROPE_STEP } from '../rope-slice.js';
import type { AttentionShape } from './attention.js';
import { type SideVariant, sideArgs, storeReadJs, tableEntryJs } from './store-bytes.js';

/**
 * Attention kernels over store buffers (store/attend.ts). One pass covers `n` consecutive
 * rows of one key segment and of one value segment; its position i is at `posBase + i`
 * when the rows' positions are consecutive, else at `pos[posOff + i]` (a positions texture
 * cached on the device). Partials never come back per pass: a merge kernel folds each
 * pass into a running (max, sum, weighted values) texture, read once per call.
 */

const POSITION = `
    let p = posBase + i;
    if (contiguous < 0.5) {
      p = pos[posOff + i];
    }`;

/** Scores: thread (i, rh) is q(rh) . k(i), keys rotated at their position when pre-RoPE. */
export function storeScoresSource(shape: AttentionShape, variant: SideVariant): string {
  const { headDim, keyRope } = shape;
  const half = headDim / 2;
  const body =
    keyRope === 'none'
      ? `
    for (let d = 0; d < ${headDim}; d++) {
      ${storeReadJs('k', 'i', 'kb + d', 'kv', variant)}
      s += q[qb + d] * kv;
    }`
      : `
    const hi = Math.floor((p + 0.5) / ${ROPE_STEP});
    const lo = p - hi * ${ROPE_STEP};
    for (let k = 0; k < ${half}; k++) {
      const ca = k * ${keyRope === 'half' ? 1 : 2};
      const cb = ca + ${keyRope === 'half' ? half : 1};
      ${storeReadJs('k', 'i', 'kb + ca', 'va', variant)}
      ${storeReadJs('k', 'i', 'kb + cb', 'vb', variant)}
      const lc = rope[lo * ${half} + k];
      const ls = rope[${ROPE_STEP * half} + lo * ${half} + k];
      const hc = rope[${2 * ROPE_STEP * half} + hi * ${half} + k];
      const hs = rope[hiSinAt + hi * ${half} + k];
      const cs = hc * lc - hs * ls;
      const sn = hs * lc + hc * ls;
      s += q[qb + ca] * (va * cs - vb * sn) + q[qb + cb] * (va * sn + vb * cs);
    }`;
  return `function (q, pos, rope, dec, ${sideArgs('k').join(', ')}, n, posBase, posOff, contiguous, hiSinAt) {
    const i = this.thread.x;
    const rh = this.thread.y;
    if (i >= n) {
      return 0;
    }
    ${POSITION}
    const h = rh - ${shape.queryHeads} * Math.floor((rh + 0.5) / ${shape.queryHeads});
    const kvh = Math.floor((h + 0.5) / ${shape.queryHeads / shape.kvHeads});
    const qb = rh * ${headDim};
    const kb = kvh * ${headDim};
    let s = 0;
    ${body}
    return s;
  }`;
}

/** Chunk max: thread (c, rh) is the largest visible score of chunk c (NEG_LARGE if none). */
export function storeChunkMaxSource(shape: AttentionShape): string {
  return `function (scores, pos, limits, n, posBase, posOff, contiguous) {
    const c = this.thread.x;
    const rh = this.thread.y;
    const r = Math.floor((rh + 0.5) / ${shape.queryHeads});
    const lim = limits[r];
    let m = ${NEG_LARGE.toExponential()};
    for (let k = 0; k < ${ATTENTION_CHUNK}; k++) {
      const i = c * ${ATTENTION_CHUNK} + k;
      if (i < n) {
        ${POSITION}
        if (p <= lim) {
          m = Math.max(m, scores[rh][i]);
        }
      }
    }
    return m;
  }`;
}

/**
 * Chunk partials: thread (x, rh, c), x < headDim: sum over the chunk's visible positions
 * of exp(s - m) v_x; x = headDim: sum of exp(s - m); x = headDim + 1: m (the chunk max).
 */
export function storeChunkSource(shape: AttentionShape, variant: SideVariant): string {
  const D = shape.headDim;
  return `function (scores, maxes, pos, limits, dec, ${sideArgs('v').join(', ')}, n, posBase, posOff, contiguous) {
    const x = this.thread.x;
    const rh = this.thread.y;
    const c = this.thread.z;
    const m = maxes[rh][c];
    if (x > ${D + 0.5}) {
      return m;
    }
    const r = Math.floor((rh + 0.5) / ${shape.queryHeads});
    const h = rh - r * ${shape.queryHeads};
    const kvh = Math.floor((h + 0.5) / ${shape.queryHeads / shape.kvHeads});
    const ch = kvh * ${D} + Math.min(x, ${D - 1});
    const lim = limits[r];
    ${variant.startsWith('packed') ? tableEntryJs('v', 'ch', 'ct') : ''}
    let acc = 0;
    for (let k = 0; k < ${ATTENTION_CHUNK}; k++) {
      const i = c * ${ATTENTION_CHUNK} + k;
      if (i < n) {
        ${POSITION}
        if (p <= lim) {
          const e = Math.exp(scores[rh][i] - m);
          if (x > ${D - 0.5}) {
            acc += e;
          } else {
            ${storeReadJs('v', 'i', 'ch', 'vv', variant, variant.startsWith('packed') ? 'ct' : undefined)}
            acc += e * vv;
          }
        }
      }
    }
    return acc;
  }`;
}

/**
 * Merge: thread (x, rh) folds the `chunks` partials of a pass into the running state
 * `prev` (same layout as one chunk's partial: weighted values, sum, max), flash-decoding
 * style, in float32 on the device. The first state is MERGE_INIT_SOURCE's (nothing seen).
 */
export function storeMergeSource(headDim: number, maxChunks: number): string {
  const S = headDim;
  const M = headDim + 1;
  return `function (parts, prev, chunks) {
    const x = this.thread.x;
    const rh = this.thread.y;
    let big = prev[rh][${M}];
    for (let c = 0; c < ${maxChunks}; c++) {
      if (c < chunks) {
        if (parts[c][rh][${S}] > 0) {
          big = Math.max(big, parts[c][rh][${M}]);
        }
      }
    }
    if (x > ${M - 0.5}) {
      return big;
    }
    let acc = prev[rh][x] * Math.exp(prev[rh][${M}] - big);
    for (let c = 0; c < ${maxChunks}; c++) {
      if (c < chunks) {
        if (parts[c][rh][${S}] > 0) {
          acc += parts[c][rh][x] * Math.exp(parts[c][rh][${M}] - big);
        }
      }
    }
    return acc;
  }`;
}

/** The merge state before any pass: sums 0, max NEG_LARGE. */
export function storeMergeInitSource(headDim: number): string {
  return `function () {
    if (this.thread.x > ${headDim + 0.5}) {
      return ${NEG_LARGE.toExponential()};
    }
    return 0;
  }`;
}
