import {
  type KvSegment,
  kvHidden,
  queryHidden,
  SkvqError,
  type TokenGroupLayout,
} from '@skvq/core';
import {
  type CheckedAttrs,
  ROPE_TABLE_STEP,
  type RopeTable,
  ropeTable,
  rotateRow,
} from '@skvq/formats';
import type { DecodeParts } from './decode-parts.js';
import { rowReader } from './fast-rows.js';
import {
  configurePacked,
  configureRuns,
  fillPackedChunk,
  flushPackedValues,
  PACKED_CHUNK_TOKENS,
  type PackedPlan,
  packedBytes,
  packedFusable,
  throwBadChunk,
  writeQueryPairs,
} from './fused-packed.js';
import { type FusedAttentionExports, fusedAttentionWasm } from './wasm-module.js';

/**
 * Decode attention through the WebAssembly SIMD module (wasm/fused-attention.wat). Each
 * segment streams through the module's memory in chunks: token-group pages of 8, 4, 2 or
 * 1.5 bits as their raw packed codes (fused-packed.ts: decoded, dequantized, rotated and
 * dotted four tokens per vector, never un-permuted per token), fp32 rows as they are, and
 * any other segment (fp16, channel-block, 3 bits) as fp32 rows from the JavaScript row
 * reader. The module writes one score per (position, query head) into a score matrix in its
 * memory, computes the softmax numerators there (float64 sums per head) and accumulates the
 * values; the output is normalised here, in float64. The module's memory grows to the
 * largest step seen (the score matrix is length x queryHeads floats) and is reused.
 */

/**
 * Tokens per chunk of full-precision rows: 64 rows of 4096 fp32 channels are 1 MiB, which
 * stays in L2 between the copy and the kernel; the float32 value accumulator is flushed into
 * float64 after every chunk, so its sums stay short.
 */
export const FUSED_CHUNK_TOKENS = 64;

/** Whether the fused module can run this geometry (SIMD loops step 8 channels per head). */
export function fusedDecodeAvailable(attrs: CheckedAttrs): boolean {
  return attrs.geometry.headDim % 8 === 0 && fusedAttentionWasm() !== null;
}

function align16(n: number): number {
  return (n + 15) & ~15;
}

/** Byte addresses of the buffers in the module's memory for one call. */
interface Plan extends PackedPlan {
  q: number;
  acc: number;
  sin: number;
  rbuf: number;
  rows: number;
  /**
   * All scores of the step, [rows + 1][queryHeads], one row per key position in the order
   * the key segments list them (the last row takes the padding slots
   * of a block: scratch for keys, zero weights for values), then the softmax maxima and sums.
   */
  allScores: number;
  /** Per chunk token, the byte address of its score row. */
  pos: number;
  max: number;
  sums: number;
}

function planMemory(
  ex: FusedAttentionExports,
  attrs: CheckedAttrs,
  maxGroups: number,
  scoreRows: number,
): Plan {
  const { geometry } = attrs;
  const { queryHeads, headDim } = geometry;
  const channels = kvHidden(geometry);
  const qBytes = 4 * queryHidden(geometry);
  const packed = packedBytes(geometry, maxGroups);
  let at = 16;
  const take = (bytes: number) => {
    const here = at;
    at += align16(bytes);
    return here;
  };
  // The two lookup tables first, at addresses that never change: configurePacked loads
  // them only when the format changes (the fp16 table is 256 KiB).
  const metaTable = take(packed.metaTable);
  const table = take(256 * 8);
  // The chunk buffers serve both paths: fp32 rows (FUSED_CHUNK_TOKENS) and packed pages.
  // +16: the SIMD decoders read (zeroed) bytes past the last row.
  const rows = take(Math.max(4 * FUSED_CHUNK_TOKENS * channels, packed.codes) + 16);
  const plan: Plan = {
    q: take(qBytes),
    acc: take(qBytes),
    scores: take(Math.max(4 * FUSED_CHUNK_TOKENS * queryHeads, packed.scores)),
    cos: take(Math.max(4 * FUSED_CHUNK_TOKENS * headDim, packed.cos)),
    sin: take(4 * FUSED_CHUNK_TOKENS * headDim),
    rbuf: take(4 * channels),
    rows,
    codes: rows,
    meta: take(packed.meta),
    metaRaw: take(packed.metaRaw),
    metaTable,
    table,
    offs: take(4 * (maxGroups + 1)),
    cstride: packed.cstride,
    cbuf: take(packed.cbuf),
    tbuf: take(packed.tbuf),
    pairs: take(packed.pairs),
    qpair: take(packed.qpair),
    headOff: take(packed.headOff),
    accS: take(packed.accS),
    kq: take(packed.kq),
    ridx: take(packed.ridx),
    tbuf2: take(packed.tbuf2),
    runs: take(packed.runs),
    groupRuns: take(packed.groupRuns),
    qs: take(packed.qs),
    qrun: take(packed.qrun),
    max: take(4 * queryHeads),
    sums: take(8 * queryHeads),
    pos: take(4 * Math.max(PACKED_CHUNK_TOKENS, FUSED_CHUNK_TOKENS)),
    allScores: take(4 * (scoreRows + 1) * queryHeads),
  };
  const pages = Math.ceil(at / 65536) - ex.memory.buffer.byteLength / 65536;
  if (pages > 0) ex.memory.grow(pages);
  return plan;
}

/** Fills the chunk with fp32 rows in original order (any segment the packed path skips). */
type RowFill = (first: number, count: number, f32: Float32Array) => void;

function rowFill(seg: KvSegment, channels: number, plan: Plan): RowFill {
  if (seg.kind === 'fp' && seg.precision === 'fp32') {
    const data = seg.data as Float32Array;
    return (first, count, f32) => {
      f32.set(data.subarray(first * channels, (first + count) * channels), plan.rows >> 2);
    };
  }
  const read = rowReader(seg, channels);
  return (first, count, f32) => {
    const base = plan.rows >> 2;
    for (let t = 0; t < count; t++) {
      read(first + t, f32.subarray(base + t * channels, base + (t + 1) * channels));
    }
  };
}

/**
 * cos/sin rows of `count` positions as the module's rotation reads them: pairwise
 * c = [c0 c0 c1 c1 ..], s = [-s0 s0 -s1 s1 ..]; half: c_i, s_i for i < headDim / 2.
 */
function fillRope(
  table: RopeTable,
  pairwise: boolean,
  headDim: number,
  positions: Int32Array,
  first: number,
  count: number,
  f32: Float32Array,
  plan: Plan,
): void {
  const half = table.half;
  const { loCos, loSin, hiCos, hiSin } = table;
  let co = plan.cos >> 2;
  let so = plan.sin >> 2;
  for (let t = 0; t < count; t++, co += headDim, so += headDim) {
    const p = positions[first + t] as number;
    const hi = Math.floor(p / ROPE_TABLE_STEP) * half;
    const lo = (p % ROPE_TABLE_STEP) * half;
    for (let i = 0; i < half; i++) {
      const ch = hiCos[hi + i] as number;
      const sh = hiSin[hi + i] as number;
      const cl = loCos[lo + i] as number;
      const sl = loSin[lo + i] as number;
      // cos(a + b), sin(a + b): the same combination as rotateRow.
      const c = ch * cl - sh * sl;
      const s = sh * cl + ch * sl;
      if (pairwise) {
        f32[co + 2 * i] = c;
        f32[co + 2 * i + 1] = c;
        f32[so + 2 * i] = -s;
        f32[so + 2 * i + 1] = s;
      } else {
        f32[co + i] = c;
        f32[so + i] = s;
      }
    }
  }
}

/**
 * cos/sin of `count` positions for the packed kernels: [block][pair i][cos x4, sin x4],
 * the angle combined as rotateRow does; no rotation (mode 0) gives cos 1, sin 0.
 */
function fillBlockRope(
  table: RopeTable | null,
  half: number,
  positions: Int32Array,
  first: number,
  count: number,
  f32: Float32Array,
  plan: Plan,
): void {
  const c0 = plan.cos >> 2;
  for (let t = 0; t < ((count + 3) & ~3); t++) {
    const base = c0 + (t >> 2) * half * 8 + (t & 3);
    if (table === null || t >= count) {
      for (let i = 0; i < half; i++) {
        f32[base + i * 8] = 1;
        f32[base + i * 8 + 4] = 0;
      }
      continue;
    }
    const p = positions[first + t] as number;
    const hi = Math.floor(p / ROPE_TABLE_STEP) * half;
    const lo = (p % ROPE_TABLE_STEP) * half;
    const { loCos, loSin, hiCos, hiSin } = table;
    for (let i = 0; i < half; i++) {
      const ch = hiCos[hi + i] as number;
      const sh = hiSin[hi + i] as number;
      const cl = loCos[lo + i] as number;
      const sl = loSin[lo + i] as number;
      f32[base + i * 8] = ch * cl - sh * sl;
      f32[base + i * 8 + 4] = sh * cl + ch * sl;
    }
  }
}

/**
 * Score-row addresses of tokens first .. first+count-1 of a segment, padded to `slots` with
 * the spare row. Keys (`keyRow` >= 0) take rows keyRow + first + t in order and record them
 * in rowOf; values find theirs there (positions no key segment holds are an error).
 */
function fillPositions(
  i32: Int32Array,
  positions: Int32Array,
  first: number,
  count: number,
  slots: number,
  keyRow: number,
  rowOf: Int32Array,
  spare: number,
  queryHeads: number,
  plan: Plan,
): void {
  const o = plan.pos >> 2;
  const rowBytes = 4 * queryHeads;
  for (let t = 0; t < count; t++) {
    const p = positions[first + t] as number;
    let row: number;
    if (keyRow >= 0) {
      row = keyRow + first + t;
      rowOf[p] = row;
    } else {
      row = rowOf[p] as number;
      if (row < 0 || row === undefined) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `attend (cpu): value position ${p} is not among the key positions; keys and values must hold the same positions`,
        );
      }
    }
    i32[o + t] = plan.allScores + row * rowBytes;
  }
  for (let t = count; t < slots; t++) i32[o + t] = plan.allScores + spare * rowBytes;
}

/** The JavaScript twin of the module's softmax, for head counts that are not multiples of 4. */
function softmaxNumerators(
  scores: Float32Array,
  length: number,
  queryHeads: number,
  sums: Float64Array,
  max: Float32Array,
): void {
  max.fill(Number.NEGATIVE_INFINITY);
  for (let p = 0; p < length; p++) {
    const d = p * queryHeads;
    for (let h = 0; h < queryHeads; h++) {
      const x = scores[d + h] as number;
      if (x > (max[h] as number)) max[h] = x;
    }
  }
  for (let p = 0; p < length; p++) {
    const d = p * queryHeads;
    for (let h = 0; h < queryHeads; h++) {
      const e = Math.exp((scores[d + h] as number) - (max[h] as number));
      scores[d + h] = e;
      sums[h] = (sums[h] as number) + e;
    }
  }
}

/**
 * Partial softmax state of one query over a subset of the cached positions: what a worker
 * holding some of the segments returns, and what `combineDecodePartials` merges. The
 * attention output over the union is acc / sums after rescaling every part to a common
 * maximum M: sums = sum_i sums_i * exp(max_i - M), acc likewise.
 */
export interface DecodePartial {
  /** [queryHeads]: largest scaled score (scale * q.k) of these positions, -Infinity if none. */
  max: Float32Array;
  /** [queryHeads]: sum over these positions of exp(score - max), float64. */
  sums: Float64Array;
  /** [queryHeads * headDim]: sum over these positions of exp(score - max) * v, float64. */
  acc: Float64Array;
  /** Number of key positions attended. */
  rows: number;
}

interface PartialRun extends DecodePartial {
  /** Softmax numerators [rows][queryHeads] in the module's memory (valid until its next call). */
  scores: Float32Array;
  /** Score row of each position (-1: not held), [span]. */
  rowOf: Int32Array;
}

function runPartial(
  q: Float32Array,
  position: number,
  keys: readonly KvSegment[],
  values: readonly KvSegment[],
  attrs: CheckedAttrs,
): PartialRun {
  const ex = fusedAttentionWasm() as FusedAttentionExports;
  const { geometry, scale } = attrs;
  const { queryHeads, kvHeads, headDim, rope } = geometry;
  const channels = kvHidden(geometry);
  const qHidden = queryHidden(geometry);
  let maxGroups = 1;
  let rows = 0;
  let span = 0;
  for (const seg of keys) {
    rows += seg.count;
    for (let i = 0; i < seg.count; i++) span = Math.max(span, (seg.positions[i] as number) + 1);
  }
  for (const seg of [...keys, ...values]) {
    if (seg.kind === 'packed' && seg.layout.kind === 'token-group') {
      maxGroups = Math.max(maxGroups, seg.layout.groupOffsets.length - 1);
    }
  }
  const plan = planMemory(ex, attrs, maxGroups, rows);
  const rowOf = new Int32Array(span).fill(-1);
  const table = rope.style !== 'none' ? ropeTable(headDim, rope, Math.max(span, 1)) : null;
  const keyTable = attrs.keysPreRope ? table : null;
  const mode = keyTable === null ? 0 : rope.style === 'pairwise' ? 1 : 2;
  const halfPairs = rope.style === 'half';
  // Views stay valid for the whole call: memory grows only in planMemory, above.
  const u8 = new Uint8Array(ex.memory.buffer);
  const f32 = new Float32Array(ex.memory.buffer);
  const i32 = new Int32Array(ex.memory.buffer);

  // The query rotated at its own position (float32 like the scores), once per step.
  const qr = new Float32Array(q.subarray(0, qHidden));
  if (table !== null) {
    rotateRow(qr, queryHeads, headDim, rope.style as 'pairwise' | 'half', table, position);
  }
  f32.set(qr, plan.q >> 2);
  writeQueryPairs(qr, geometry, halfPairs, f32, plan);
  ex.configureAttention(
    kvHeads,
    headDim,
    queryHeads,
    mode,
    plan.q,
    plan.rows,
    plan.meta,
    plan.cos,
    plan.sin,
    plan.scores,
    plan.acc,
  );
  ex.configureScores(plan.pos, scale);

  // Pass 1: the module writes scale * q.k to the key's score row.
  let keyRow = 0;
  // The layout whose tables are in the module's memory (pages of a stream share one).
  let laidOut: TokenGroupLayout | null = null;
  for (const seg of keys) {
    if (seg.kind === 'packed' && packedFusable(seg)) {
      const same = seg.layout === laidOut;
      configurePacked(ex, seg, geometry, halfPairs, plan, same);
      // Keys without rotation are scored in the quantized domain (packedKeysPost).
      if (mode === 0) configureRuns(ex, seg, geometry, qr, f32, plan, same);
      laidOut = seg.layout;
      for (let first = 0; first < seg.count; first += PACKED_CHUNK_TOKENS) {
        const count = Math.min(PACKED_CHUNK_TOKENS, seg.count - first);
        const blocks = fillPackedChunk(ex, seg, first, count, u8, f32, plan);
        const slots = blocks * 4;
        fillPositions(
          i32,
          seg.positions,
          first,
          count,
          slots,
          keyRow,
          rowOf,
          rows,
          queryHeads,
          plan,
        );
        if (mode === 0) {
          if (ex.packedKeysPost(blocks) !== 0) throwBadChunk(seg, first, count);
        } else {
          fillBlockRope(keyTable, headDim / 2, seg.positions, first, count, f32, plan);
          if (ex.packedKeys(blocks) !== 0) throwBadChunk(seg, first, count);
        }
      }
      keyRow += seg.count;
      continue;
    }
    ex.configureLayout(0, 0, channels, 0, 0, 0, 0, plan.rbuf);
    const fill = rowFill(seg, channels, plan);
    for (let first = 0; first < seg.count; first += FUSED_CHUNK_TOKENS) {
      const count = Math.min(FUSED_CHUNK_TOKENS, seg.count - first);
      fill(first, count, f32);
      if (mode !== 0) {
        fillRope(
          keyTable as RopeTable,
          mode === 1,
          headDim,
          seg.positions,
          first,
          count,
          f32,
          plan,
        );
      }
      fillPositions(i32, seg.positions, first, count, count, keyRow, rowOf, rows, queryHeads, plan);
      ex.keyRows(count);
    }
    keyRow += seg.count;
  }

  // Softmax numerators per head (unnormalised, in place) and their float64 sums: in the
  // module (SIMD exp) when the heads fill whole vectors, else here.
  const scores = f32.subarray(plan.allScores >> 2, (plan.allScores >> 2) + queryHeads * rows);
  const sums = new Float64Array(queryHeads);
  const max = new Float32Array(queryHeads).fill(Number.NEGATIVE_INFINITY);
  if (rows > 0 && queryHeads % 4 === 0) {
    ex.softmax(plan.allScores, rows, plan.max, plan.sums);
    sums.set(new Float64Array(ex.memory.buffer, plan.sums, queryHeads));
    max.set(new Float32Array(ex.memory.buffer, plan.max, queryHeads));
  } else if (rows > 0) {
    softmaxNumerators(scores, rows, queryHeads, sums, max);
  }

  // The spare row gives the padding slots of a block zero weight.
  f32.fill(
    0,
    (plan.allScores >> 2) + rows * queryHeads,
    (plan.allScores >> 2) + (rows + 1) * queryHeads,
  );

  // Pass 2: values, float32 within PACKED_CHUNK_TOKENS tokens, float64 beyond; the weights are read
  // by the module from the score rows.
  const acc = new Float64Array(qHidden);
  const a0 = plan.acc >> 2;
  laidOut = null;
  // The packed accumulator (stored order, float32) is flushed into acc every
  // PACKED_CHUNK_TOKENS tokens of one layout: pages of a stream share it, so small pages
  // (a cache's first pages hold 16, 32, .. tokens) do not pay one flush each.
  f32.fill(0, plan.accS >> 2, (plan.accS >> 2) + 4 * (queryHeads / kvHeads) * channels);
  let pending: TokenGroupLayout | null = null;
  let pendingTokens = 0;
  const flush = () => {
    if (pending !== null) flushPackedValues(pending, geometry, f32, acc, plan);
    pending = null;
    pendingTokens = 0;
  };
  for (const seg of values) {
    if (seg.kind === 'packed' && packedFusable(seg)) {
      if (pending !== seg.layout) flush();
      configurePacked(ex, seg, geometry, halfPairs, plan, seg.layout === laidOut);
      laidOut = seg.layout;
      for (let first = 0; first < seg.count; first += PACKED_CHUNK_TOKENS) {
        const count = Math.min(PACKED_CHUNK_TOKENS, seg.count - first);
        const blocks = fillPackedChunk(ex, seg, first, count, u8, f32, plan);
        fillPositions(
          i32,
          seg.positions,
          first,
          count,
          blocks * 4,
          -1,
          rowOf,
          rows,
          queryHeads,
          plan,
        );
        if (ex.packedValues(blocks) !== 0) throwBadChunk(seg, first, count);
        pending = seg.layout;
        pendingTokens += count;
        if (pendingTokens >= PACKED_CHUNK_TOKENS) flush();
      }
      continue;
    }
    ex.configureLayout(0, 0, channels, 0, 0, 0, 0, plan.rbuf);
    const fill = rowFill(seg, channels, plan);
    for (let first = 0; first < seg.count; first += FUSED_CHUNK_TOKENS) {
      const count = Math.min(FUSED_CHUNK_TOKENS, seg.count - first);
      fill(first, count, f32);
      fillPositions(i32, seg.positions, first, count, count, -1, rowOf, rows, queryHeads, plan);
      f32.fill(0, a0, a0 + qHidden);
      ex.valueRows(count);
      for (let i = 0; i < qHidden; i++) acc[i] = (acc[i] as number) + (f32[a0 + i] as number);
    }
  }
  flush();
  return { max, sums, acc, rows, scores, rowOf };
}

/**
 * One query over the positions the given key segments hold (validated inputs; values must
 * hold the same positions): the partial softmax state, not normalised, for a caller that
 * splits the cache (e.g. across workers) and merges with `combineDecodePartials`. Keys
 * and values use the fused module, as in attendDecodeFused.
 */
export function attendDecodeFusedPartial(
  q: Float32Array,
  position: number,
  keys: readonly KvSegment[],
  values: readonly KvSegment[],
  attrs: CheckedAttrs,
): DecodePartial {
  const { max, sums, acc, rows } = runPartial(q, position, keys, values, attrs);
  return { max, sums, acc, rows };
}

/**
 * The threaded backend's split-K share (decode-parts.ts): attendDecodeFusedPartial's state
 * with float64 maxima and, when asked (attentionSums), the numerators by position from the
 * subset's first position (positions it does not hold stay 0).
 */
export function fusedDecodeParts(
  q: Float32Array,
  position: number,
  keys: readonly KvSegment[],
  values: readonly KvSegment[],
  attrs: CheckedAttrs,
  withScores = false,
): DecodeParts {
  const { max, sums, acc, scores, rowOf } = runPartial(q, position, keys, values, attrs);
  const parts: DecodeParts = { max: Float64Array.from(max), sums, acc };
  if (!withScores) return parts;
  const queryHeads = attrs.geometry.queryHeads;
  let lo = rowOf.length;
  let hi = -1;
  for (let p = 0; p < rowOf.length; p++) {
    if ((rowOf[p] as number) < 0) continue;
    if (p < lo) lo = p;
    hi = p;
  }
  if (hi < 0) return { ...parts, scores: new Float32Array(0), scoresFrom: 0 };
  const out = new Float32Array((hi - lo + 1) * queryHeads);
  for (let p = lo; p <= hi; p++) {
    const row = rowOf[p] as number;
    if (row < 0) continue;
    out.set(scores.subarray(row * queryHeads, (row + 1) * queryHeads), (p - lo) * queryHeads);
  }
  return { ...parts, scores: out, scoresFrom: lo };
}

/** Merges partial states of disjoint position subsets into the normalised output. */
export function combineDecodePartials(
  parts: readonly DecodePartial[],
  queryHeads: number,
  headDim: number,
): Float32Array {
  const out = new Float32Array(queryHeads * headDim);
  for (let h = 0; h < queryHeads; h++) {
    let m = Number.NEGATIVE_INFINITY;
    for (const p of parts) m = Math.max(m, p.max[h] as number);
    let sum = 0;
    const o = h * headDim;
    const acc = new Float64Array(headDim);
    for (const p of parts) {
      if ((p.sums[h] as number) === 0) continue;
      const f = Math.exp((p.max[h] as number) - m);
      sum += (p.sums[h] as number) * f;
      for (let d = 0; d < headDim; d++) acc[d] = (acc[d] as number) + (p.acc[o + d] as number) * f;
    }
    for (let d = 0; d < headDim; d++) out[o + d] = (acc[d] as number) / sum;
  }
  return out;
}

/**
 * One decode step (validated inputs): returns [queryHeads * headDim] and adds the averaged
 * probabilities to attentionSums, like attendFast with one row.
 */
export function attendDecodeFused(
  q: Float32Array,
  position: number,
  keys: readonly KvSegment[],
  values: readonly KvSegment[],
  length: number,
  attentionSums: Float32Array | undefined,
  attrs: CheckedAttrs,
): Float32Array {
  const { queryHeads, headDim } = attrs.geometry;
  const { sums, acc, scores, rowOf } = runPartial(q, position, keys, values, attrs);
  if (attentionSums !== undefined) {
    const w = new Float64Array(queryHeads);
    for (let h = 0; h < queryHeads; h++) w[h] = 1 / ((sums[h] as number) * queryHeads);
    for (let p = 0; p < Math.min(length, rowOf.length); p++) {
      const row = rowOf[p] as number;
      if (row < 0) continue;
      const d = row * queryHeads;
      let a = 0;
      for (let h = 0; h < queryHeads; h++) a += (scores[d + h] as number) * (w[h] as number);
      attentionSums[p] = (attentionSums[p] as number) + a;
    }
  }
  const out = new Float32Array(queryHeads * headDim);
  for (let h = 0; h < queryHeads; h++) {
    const inv = 1 / (sums[h] as number);
    for (let d = 0; d < headDim; d++) out[h * headDim + d] = (acc[h * headDim + d] as number) * inv;
  }
  return out;
}
