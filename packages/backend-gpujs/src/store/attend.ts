import {
  type AttentionAttrs,
  kvHidden,
  queryHidden,
  SkvqError,
  type StoreAttendInputs,
  type StoreSegment,
} from '@skvq/core';
import { type CheckedAttrs, checkAttrs, ropeTable, rotateRow } from '@skvq/formats';
import { ATTENTION_CHUNK, MAX_PREFILL_ROWS, MAX_SCORE_CELLS } from '../constants.js';
import type { AttentionShape } from '../sources/attention.js';
import {
  storeChunkMaxSource,
  storeChunkSource,
  storeMergeInitSource,
  storeMergeSource,
  storeScoresSource,
} from '../sources/store-attention.js';
import { deviceTables } from './device-tables.js';
import { indexStoreStream, type StoreIndex, sideArguments, sideVariant } from './segments.js';
import type { StoreOps } from './storage.js';

const pow2Floor = (n: number) => 2 ** Math.floor(Math.log2(Math.max(1, n)));
const pow2Ceil = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** Rows kRow0 .. kRow0+n-1 of key segment ks hold the positions of value rows vRow0 .. of vs. */
interface Run {
  ks: number;
  kRow0: number;
  vs: number;
  vRow0: number;
  n: number;
}

/**
 * Splits the positions into runs that are consecutive rows in one key segment and in one
 * value segment (the usual cache: one run per page, sink and window part), each at most
 * `most` rows.
 */
function runsOf(keys: StoreIndex, values: StoreIndex, most: number): Run[] {
  const runs: Run[] = [];
  let cur: Run | undefined;
  keys.segments.forEach((seg, ks) => {
    for (let i = 0; i < seg.count; i++) {
      const p = seg.positions[i] as number;
      const vs = values.segOf[p] as number;
      const vr = values.rowOf[p] as number;
      if (
        cur !== undefined &&
        cur.ks === ks &&
        cur.kRow0 + cur.n === i &&
        cur.vs === vs &&
        cur.vRow0 + cur.n === vr &&
        cur.n < most
      ) {
        cur.n++;
      } else {
        cur = { ks, kRow0: i, vs, vRow0: vr, n: 1 };
        runs.push(cur);
      }
    }
  });
  return runs;
}

/** Queries rotated at their own positions and pre-scaled (float32, like the reference). */
function rotatedQueries(q: Float32Array, rows: number, first: number, attrs: CheckedAttrs) {
  const { queryHeads, headDim, rope } = attrs.geometry;
  const qHidden = queryHidden(attrs.geometry);
  const qr = new Float32Array(rows * qHidden);
  qr.set(q.subarray(0, rows * qHidden));
  if (rope.style !== 'none') {
    const table = ropeTable(headDim, rope, first + rows);
    for (let r = 0; r < rows; r++) {
      const row = qr.subarray(r * qHidden, (r + 1) * qHidden);
      rotateRow(row, queryHeads, headDim, rope.style, table, first + r);
    }
  }
  for (let i = 0; i < qr.length; i++) qr[i] = Math.fround((qr[i] as number) * attrs.scale);
  return qr;
}

function checkStoreAttend(inputs: StoreAttendInputs, qHidden: number, where: string): void {
  const { q, start, rows, length } = inputs;
  const bad = (m: string) => new SkvqError('INVALID_ARGUMENT', `${where}: ${m}`);
  if (!Number.isInteger(length) || length < 1)
    throw bad(`length must be a positive integer, got ${String(length)}`);
  if (!Number.isInteger(rows) || rows < 1)
    throw bad(`rows must be a positive integer, got ${String(rows)}`);
  if (!Number.isInteger(start) || start < 0 || start + rows > length) {
    throw bad(`rows ${String(start)}..${String(start + rows - 1)} must lie in 0..${length - 1}`);
  }
  if (!(q instanceof Float32Array) || q.length < rows * qHidden) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: q must be a Float32Array of ${rows * qHidden} values (rows x query hidden)`,
    );
  }
  if (
    inputs.attentionSums !== undefined &&
    (!(inputs.attentionSums instanceof Float32Array) || inputs.attentionSums.length < length)
  ) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: attentionSums must be a Float32Array of at least length (${length}) values`,
    );
  }
}

/**
 * Attention over segments held in the gpu.js store: per run of rows (store/attend.ts
 * runsOf) a scores kernel, a chunk-max kernel and a chunk-partials kernel read the keys and
 * values straight from their buffers' textures (packed codes decoded in the kernel), and a
 * merge kernel folds the pass into a running softmax state on the device. What crosses per
 * call: the query rows and their causal limits up, the final state (heads x (headDim + 2)
 * floats) down; the layout, decode and RoPE tables are uploaded once and reused. With
 * attentionSums, every pass's scores are read back too (O(length), as the contract says).
 */
export function attendStore(
  ops: StoreOps,
  owner: object,
  inputs: StoreAttendInputs,
  attrs: AttentionAttrs,
): Float32Array {
  const where = 'gpujs store attend';
  const checked = checkAttrs(attrs, where);
  const { geometry } = checked;
  const { queryHeads, headDim: D, rope } = geometry;
  const channels = kvHidden(geometry);
  const qHidden = queryHidden(geometry);
  checkStoreAttend(inputs, qHidden, where);
  const { rows, start, length, causal } = inputs;
  const keys = indexStoreStream(owner, inputs.keys, length, channels, `${where}: keys`);
  const values = indexStoreStream(owner, inputs.values, length, channels, `${where}: values`);
  const ctx = ops.ctx;
  const tables = deviceTables(ops);
  const keyRope = checked.keysPreRope && rope.style !== 'none' ? rope.style : 'none';
  const shape: AttentionShape = { queryHeads, kvHeads: geometry.kvHeads, headDim: D, keyRope };
  const r =
    keyRope === 'none' ? { texture: tables.dummy, hiSinAt: 0 } : tables.rope(D, rope, length - 1);
  const qr = rotatedQueries(inputs.q, rows, start, checked);
  const out = new Float32Array(rows * qHidden);
  const stride = D + 2;
  for (let first = 0; first < rows; first += MAX_PREFILL_ROWS) {
    const batch = Math.min(MAX_PREFILL_ROWS, rows - first);
    const rowsPad = pow2Ceil(batch);
    const heads = rowsPad * queryHeads;
    const most = Math.max(
      ATTENTION_CHUNK,
      Math.min(ctx.maxSliceTokens, pow2Floor(MAX_SCORE_CELLS / heads)),
    );
    const qb = new Float32Array(heads * D);
    qb.set(qr.subarray(first * qHidden, (first + batch) * qHidden));
    const limits = new Float32Array(rowsPad).fill(-1);
    for (let b = 0; b < batch; b++) limits[b] = causal ? start + first + b : length - 1;
    const qTex = ops.upload(qb);
    const limTex = ops.upload(limits);
    let state = ctx.run(
      {
        key: `store-merge-init:${D}/${heads}`,
        source: storeMergeInitSource(D),
        output: [stride, heads],
        constants: {},
        pipeline: true,
        immutable: true,
        packed: true,
      },
      [],
    );
    const kept: { scores: Float32Array; tokens: number; positions: Int32Array }[] = [];
    for (const run of runsOf(keys, values, most)) {
      const kSeg = keys.segments[run.ks] as StoreSegment;
      const vSeg = values.segments[run.vs] as StoreSegment;
      const tokens = Math.max(ATTENTION_CHUNK, pow2Ceil(run.n));
      const chunks = tokens / ATTENTION_CHUNK;
      const posBase = kSeg.positions[run.kRow0] as number;
      let contiguous = 1;
      for (let i = 1; i < run.n && contiguous === 1; i++) {
        if (kSeg.positions[run.kRow0 + i] !== posBase + i) contiguous = 0;
      }
      const posTex =
        contiguous === 1 ? tables.dummy : tables.positionsOf(kSeg.positions, kSeg.count);
      const where3 = [run.n, posBase, run.kRow0, contiguous];
      const shapeKey = `${queryHeads}/${geometry.kvHeads}/${D}/${keyRope}/${tokens}/${rowsPad}`;
      const scores = ctx.run(
        {
          key: `store-scores:${shapeKey}/${sideVariant(kSeg)}`,
          source: storeScoresSource(shape, sideVariant(kSeg)),
          output: [tokens, heads],
          constants: {},
          loopMax: D,
          pipeline: true,
        },
        [
          qTex,
          posTex,
          r.texture,
          tables.dec,
          ...sideArguments(kSeg, run.kRow0, channels, tables),
          ...where3,
          r.hiSinAt,
        ],
      );
      const maxes = ctx.run(
        {
          key: `store-chunkmax:${shapeKey}`,
          source: storeChunkMaxSource(shape),
          output: [chunks, heads],
          constants: {},
          loopMax: ATTENTION_CHUNK,
          pipeline: true,
        },
        [scores, posTex, limTex, ...where3],
      );
      const parts = ctx.run(
        {
          key: `store-chunks:${shapeKey}/${sideVariant(vSeg)}`,
          source: storeChunkSource(shape, sideVariant(vSeg)),
          output: [stride, heads, chunks],
          constants: {},
          loopMax: ATTENTION_CHUNK,
          pipeline: true,
        },
        [
          scores,
          maxes,
          posTex,
          limTex,
          tables.dec,
          ...sideArguments(vSeg, run.vRow0, channels, tables),
          ...where3,
        ],
      );
      const next = ctx.run(
        {
          key: `store-merge:${D}/${heads}/${chunks}`,
          source: storeMergeSource(D, chunks),
          output: [stride, heads],
          constants: {},
          loopMax: chunks,
          pipeline: true,
          immutable: true,
          packed: true,
        },
        [parts, state, chunks],
      );
      ctx.free(state);
      state = next;
      if (inputs.attentionSums !== undefined) {
        kept.push({
          scores: ctx.readTexture(scores, tokens * heads),
          tokens,
          positions: kSeg.positions.subarray(run.kRow0, run.kRow0 + run.n),
        });
      }
    }
    const merged = ctx.readTexture(state, stride * heads);
    ctx.free(state);
    ctx.free(qTex);
    ctx.free(limTex);
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < queryHeads; h++) {
        const o = (b * queryHeads + h) * stride;
        const inv = 1 / (merged[o + D] as number);
        for (let d = 0; d < D; d++) {
          out[(first + b) * qHidden + h * D + d] = (merged[o + d] as number) * inv;
        }
      }
    }
    if (inputs.attentionSums !== undefined) {
      addSums(inputs.attentionSums, kept, merged, limits, batch, queryHeads, stride, D);
    }
  }
  return out;
}

/** Adds each position's probability, averaged over heads, summed over the batch's rows. */
function addSums(
  sums: Float32Array,
  kept: readonly { scores: Float32Array; tokens: number; positions: Int32Array }[],
  merged: Float32Array,
  limits: Float32Array,
  batch: number,
  queryHeads: number,
  stride: number,
  D: number,
): void {
  for (const { scores, tokens, positions } of kept) {
    for (let b = 0; b < batch; b++) {
      const lim = limits[b] as number;
      for (let h = 0; h < queryHeads; h++) {
        const rh = b * queryHeads + h;
        const M = merged[rh * stride + D + 1] as number;
        const inv = 1 / ((merged[rh * stride + D] as number) * queryHeads);
        for (let i = 0; i < positions.length; i++) {
          const p = positions[i] as number;
          if (p > lim) continue;
          sums[p] = (sums[p] as number) + Math.exp((scores[rh * tokens + i] as number) - M) * inv;
        }
      }
    }
  }
}
