import {
  type AttendDecodeInputs,
  type AttendPrefillInputs,
  type AttentionAttrs,
  type KvSegment,
  kvHidden,
  metaBytesPerUnit,
  queryHidden,
  rowCodeBytes,
  tokensPerMetaUnit,
} from '@skvq/core';
import {
  type CheckedAttrs,
  checkAttention,
  checkAttrs,
  checkPosition,
  checkPrefillRange,
  ropeTable,
  rotateRow,
} from '@skvq/formats';
import {
  ATTENTION_CHUNK,
  MAX_PREFILL_ROWS,
  MAX_SCORE_CELLS,
  MAX_SLICE_FLOATS,
} from './constants.js';
import { flatten, type GpujsContext } from './context.js';
import { ropeSlice } from './rope-slice.js';
import {
  type AttentionShape,
  chunkMaxSource,
  chunkSource,
  chunkThreadsX,
  scoresSource,
} from './sources/attention.js';
import { buildSlice, indexStream, type StreamIndex } from './stream-slice.js';

const pow2Floor = (n: number) => 2 ** Math.floor(Math.log2(Math.max(1, n)));
const pow2Ceil = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** Floats one position of a stream may add to a slice's data (its largest segment kind). */
function floatsPerToken(segments: readonly KvSegment[], channels: number): number {
  let most = 1;
  for (const seg of segments) {
    const n =
      seg.kind === 'fp'
        ? channels
        : rowCodeBytes(seg.layout) +
          metaBytesPerUnit(seg.layout) / tokensPerMetaUnit(seg.layout) +
          3;
    most = Math.max(most, n);
  }
  return most;
}

/** Running softmax merge of chunk partials, per query row x head, in float64. */
class SoftmaxMerge {
  readonly max: Float64Array;
  readonly sum: Float64Array;
  readonly acc: Float64Array;
  constructor(
    readonly heads: number,
    readonly headDim: number,
  ) {
    this.max = new Float64Array(heads).fill(Number.NEGATIVE_INFINITY);
    this.sum = new Float64Array(heads);
    this.acc = new Float64Array(heads * headDim);
  }
  /**
   * partials: [chunks][heads][stride]: weighted values at 0 .. headDim-1, the sum of exp at
   * `sumAt` and the chunk max right after it (sources/attention.ts, chunkSource).
   */
  add(partials: Float32Array, chunks: number, stride: number, sumAt: number): void {
    const { headDim: D, heads } = this;
    for (let c = 0; c < chunks; c++) {
      for (let rh = 0; rh < heads; rh++) {
        const o = (c * heads + rh) * stride;
        const l = partials[o + sumAt] as number;
        if (!(l > 0)) continue;
        const m = partials[o + sumAt + 1] as number;
        const M = this.max[rh] as number;
        if (m > M) {
          const f = Math.exp(M - m);
          this.sum[rh] = (this.sum[rh] as number) * f;
          for (let d = 0; d < D; d++) this.acc[rh * D + d] = (this.acc[rh * D + d] as number) * f;
          this.max[rh] = m;
        }
        const g = Math.exp(m - (this.max[rh] as number));
        this.sum[rh] = (this.sum[rh] as number) + l * g;
        for (let d = 0; d < D; d++) {
          this.acc[rh * D + d] = (this.acc[rh * D + d] as number) + (partials[o + d] as number) * g;
        }
      }
    }
  }
}

interface RowBatch {
  rows: number;
  /** Sequence position of the batch's first query row. */
  first: number;
}

/**
 * Attention of `rows` query rows at positions firstPosition.. over both streams: the
 * context runs in slices of at most ctx.maxSliceTokens positions; per slice the scores
 * kernel writes one score per (position, row x head) into a device texture and the chunk
 * kernel reduces chunks of ATTENTION_CHUNK positions into softmax partials that are read
 * back and merged on the host. Keys and values are read from their packed codes inside
 * the kernels; nothing is dequantized into a copy.
 */
function attendGpujs(
  ctx: GpujsContext,
  q: Float32Array,
  rows: number,
  firstPosition: number,
  causal: boolean,
  keys: readonly KvSegment[],
  values: readonly KvSegment[],
  length: number,
  attentionSums: Float32Array | undefined,
  attrs: CheckedAttrs,
): Float32Array {
  const { geometry, scale } = attrs;
  const { queryHeads, headDim, rope } = geometry;
  const channels = kvHidden(geometry);
  const qHidden = queryHidden(geometry);
  const keyRope = attrs.keysPreRope && rope.style !== 'none' ? rope.style : 'none';
  const shape: AttentionShape = {
    queryHeads,
    kvHeads: geometry.kvHeads,
    headDim,
    keyRope,
  };
  // Queries rotated at their own positions and pre-scaled (float32, like the reference).
  const qr = new Float32Array(rows * qHidden);
  qr.set(q.subarray(0, rows * qHidden));
  if (rope.style !== 'none') {
    const table = ropeTable(headDim, rope, firstPosition + rows);
    for (let r = 0; r < rows; r++) {
      rotateRow(
        qr.subarray(r * qHidden, (r + 1) * qHidden),
        queryHeads,
        headDim,
        rope.style,
        table,
        firstPosition + r,
      );
    }
  }
  for (let i = 0; i < qr.length; i++) qr[i] = Math.fround((qr[i] as number) * scale);

  const kIndex = indexStream(keys, length);
  const vIndex = indexStream(values, length);
  const perToken = Math.max(floatsPerToken(keys, channels), floatsPerToken(values, channels));
  const out = new Float32Array(rows * qHidden);
  const batches: RowBatch[] = [];
  for (let r = 0; r < rows; r += MAX_PREFILL_ROWS) {
    batches.push({ rows: Math.min(MAX_PREFILL_ROWS, rows - r), first: r });
  }
  for (const batch of batches) {
    const rowsPad = pow2Ceil(batch.rows);
    const heads = rowsPad * queryHeads;
    const visible = causal ? firstPosition + batch.first + batch.rows : length;
    const sliceTokens = Math.max(
      ATTENTION_CHUNK,
      Math.min(
        ctx.maxSliceTokens,
        pow2Ceil(visible),
        pow2Floor(MAX_SCORE_CELLS / heads),
        pow2Floor(MAX_SLICE_FLOATS / perToken),
      ),
    );
    const qb = new Float32Array(heads * headDim);
    qb.set(qr.subarray(batch.first * qHidden, (batch.first + batch.rows) * qHidden));
    const limits = new Float32Array(rowsPad).fill(-1);
    for (let r = 0; r < batch.rows; r++) {
      limits[r] = causal ? firstPosition + batch.first + r : length - 1;
    }
    const merge = new SoftmaxMerge(heads, headDim);
    const keptScores: { p0: number; count: number; scores: Float32Array }[] = [];
    for (let p0 = 0; p0 < visible; p0 += sliceTokens) {
      const count = Math.min(sliceTokens, visible - p0);
      const scores = runSlice(ctx, shape, sliceTokens, rowsPad, {
        q: qb,
        kIndex,
        vIndex,
        p0,
        count,
        channels,
        limits,
        merge,
        rope,
      });
      if (attentionSums !== undefined) {
        keptScores.push({ p0, count, scores: flatten(scores, sliceTokens * heads) });
      }
    }
    for (let r = 0; r < batch.rows; r++) {
      for (let h = 0; h < queryHeads; h++) {
        const rh = r * queryHeads + h;
        const inv = 1 / (merge.sum[rh] as number);
        for (let d = 0; d < headDim; d++) {
          out[(batch.first + r) * qHidden + h * headDim + d] =
            (merge.acc[rh * headDim + d] as number) * inv;
        }
      }
    }
    if (attentionSums !== undefined) {
      addAttentionSums(
        attentionSums,
        keptScores,
        limits,
        merge,
        batch.rows,
        queryHeads,
        sliceTokens,
      );
    }
  }
  return out;
}

interface SliceInputs {
  q: Float32Array;
  kIndex: StreamIndex;
  vIndex: StreamIndex;
  p0: number;
  count: number;
  channels: number;
  limits: Float32Array;
  merge: SoftmaxMerge;
  rope: AttentionAttrs['geometry']['rope'];
}

/** One slice: scores kernel, chunk kernel, merge. Returns the scores (a texture on GL). */
function runSlice(
  ctx: GpujsContext,
  shape: AttentionShape,
  sliceTokens: number,
  rowsPad: number,
  s: SliceInputs,
): unknown {
  const heads = rowsPad * shape.queryHeads;
  const D = shape.headDim;
  const k = buildSlice(s.kIndex, s.p0, s.count, sliceTokens, s.channels);
  const v = buildSlice(s.vIndex, s.p0, s.count, sliceTokens, s.channels);
  const r =
    shape.keyRope === 'none'
      ? { rope: new Float32Array(1), hiBase: 0, hiSinAt: 0 }
      : ropeSlice(D, s.rope, s.p0, sliceTokens);
  const shapeKey = `${shape.queryHeads}/${shape.kvHeads}/${D}/${shape.keyRope}/${sliceTokens}/${rowsPad}`;
  const scores = ctx.run(
    {
      key: `scores:${shapeKey}`,
      source: scoresSource(shape),
      output: [sliceTokens, heads],
      constants: {},
      loopMax: D,
      pipeline: true,
    },
    [s.q, k.info, k.data, r.rope, r.hiBase, r.hiSinAt, s.p0],
  );
  const chunks = sliceTokens / ATTENTION_CHUNK;
  const maxes = ctx.run(
    {
      key: `chunkmax:${shapeKey}`,
      source: chunkMaxSource(shape),
      output: [chunks, heads],
      constants: {},
      loopMax: ATTENTION_CHUNK,
      pipeline: true,
    },
    [scores, v.info, s.limits, s.p0],
  );
  const threadsX = chunkThreadsX(D);
  const partials = ctx.run(
    {
      key: `chunks:${shapeKey}`,
      source: chunkSource(shape),
      output: [threadsX, heads, chunks],
      returnType: 'Array(4)',
      constants: {},
      loopMax: ATTENTION_CHUNK,
    },
    [scores, maxes, v.info, v.data, s.limits, s.p0],
  );
  const stride = 4 * threadsX;
  s.merge.add(flatten(partials, chunks * heads * stride), chunks, stride, stride - 4);
  return scores;
}

/** Adds each position's probability, averaged over heads, summed over query rows. */
function addAttentionSums(
  sums: Float32Array,
  kept: readonly { p0: number; count: number; scores: Float32Array }[],
  limits: Float32Array,
  merge: SoftmaxMerge,
  rows: number,
  queryHeads: number,
  sliceTokens: number,
): void {
  for (const { p0, count, scores } of kept) {
    for (let r = 0; r < rows; r++) {
      const last = Math.min(count - 1, (limits[r] as number) - p0);
      for (let h = 0; h < queryHeads; h++) {
        const rh = r * queryHeads + h;
        const M = merge.max[rh] as number;
        const inv = 1 / ((merge.sum[rh] as number) * queryHeads);
        for (let i = 0; i <= last; i++) {
          sums[p0 + i] =
            (sums[p0 + i] as number) + Math.exp((scores[rh * sliceTokens + i] as number) - M) * inv;
        }
      }
    }
  }
}

export function attendDecodeGpujs(
  ctx: GpujsContext,
  inputs: AttendDecodeInputs,
  attrs: AttentionAttrs,
): Float32Array {
  const where = 'gpujs attendDecode';
  const checked = checkAttrs(attrs, where);
  checkPosition(inputs.position, where);
  checkAttention(inputs, 1, checked, where);
  return attendGpujs(
    ctx,
    inputs.q,
    1,
    inputs.position,
    false,
    inputs.keys,
    inputs.values,
    inputs.length,
    inputs.attentionSums,
    checked,
  );
}

export function attendPrefillGpujs(
  ctx: GpujsContext,
  inputs: AttendPrefillInputs,
  attrs: AttentionAttrs,
): Float32Array {
  const where = 'gpujs attendPrefill';
  const checked = checkAttrs(attrs, where);
  checkPrefillRange(inputs.start, inputs.count, inputs.length, where);
  checkAttention(inputs, inputs.count, checked, where);
  return attendGpujs(
    ctx,
    inputs.q,
    inputs.count,
    inputs.start,
    true,
    inputs.keys,
    inputs.values,
    inputs.length,
    inputs.attentionSums,
    checked,
  );
}
