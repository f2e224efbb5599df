import {
  type BitWidth,
  type KvGeometry,
  META_BYTES,
  metaBytesPerUnit,
  type PackedSegment,
  rowCodeBytes,
  type TokenGroupLayout,
} from '@skvq/core';
import { byteDecodeTable, decodeRow, fp8Table, fp16Table, layoutPlan } from '@skvq/formats';
import { runTables, writeRunQuery } from './fused-runs.js';
import type { FusedAttentionExports } from './wasm-module.js';

/**
 * The host side of the module's packed-page kernels (packedKeys / packedValues): token-group
 * pages of 8, 4, 2 or 1.5 bits are processed four tokens per SIMD vector, straight from
 * their packed codes; this file builds the per-layout address tables and lays each chunk's
 * scale/zero pairs and RoPE cos/sin out token-interleaved, as the module reads them.
 */

/** Tokens per packed chunk (64 blocks of 4): 256 KiB of 2-bit codes at 4096 channels. */
export const PACKED_CHUNK_TOKENS = 256;

/** Codes per byte of the formats the module decodes (3 bits is not byte-aligned). */
const CODES_PER_BYTE: Partial<Record<BitWidth, number>> = { 8: 1, 4: 2, 2: 4, 1.5: 5 };

/** Bit 63 of a table entry (byte 7) marks an invalid ternary byte (above 3^5 - 1 = 242). */
const INVALID_ENTRY_FLAG = 0x80;
const MAX_TRIT_BYTE = 242;

const wasmTables = new Map<BitWidth, Uint8Array>();

/**
 * The module's decode table: 8 bytes per byte value, its codes first, spare bytes zero. The
 * 8- and 4-bit rows read it; 2-bit and ternary rows have SIMD decoders (the table stays
 * complete, with the invalid-byte flag, so any format can fall back on it).
 */
function wasmDecodeTable(bits: BitWidth): Uint8Array {
  const cached = wasmTables.get(bits);
  if (cached) return cached;
  const per = CODES_PER_BYTE[bits] as number;
  const t = new Uint8Array(256 * 8);
  const codes = bits === 8 ? null : byteDecodeTable(bits as 2 | 4 | 1.5);
  for (let b = 0; b < 256; b++) {
    for (let j = 0; j < per; j++)
      t[b * 8 + j] = codes === null ? b : (codes[b * per + j] as number);
    if (bits === 1.5 && b > MAX_TRIT_BYTE) t[b * 8 + 7] = INVALID_ENTRY_FLAG;
  }
  wasmTables.set(bits, t);
  return t;
}

/** Whether the module decodes this segment's codes itself. */
export function packedFusable(seg: PackedSegment): seg is PackedSegment & {
  layout: TokenGroupLayout;
} {
  return seg.layout.kind === 'token-group' && CODES_PER_BYTE[seg.layout.bits] !== undefined;
}

/** Channel pairs RoPE rotates together, per head: (2i, 2i+1) or (i, i + headDim/2). */
export function pairChannels(headDim: number, half: boolean, i: number): [number, number] {
  return half ? [i, i + headDim / 2] : [2 * i, 2 * i + 1];
}

/** Per-layout tables, relative to the transposed-codes buffer (cached per layout object). */
interface LayoutTables {
  /** Per (KV head, pair): 16 * stored position of a, the same for b (offsets into kq). */
  pairs: Int32Array;
  /** Per stored position: KV head of its channel * group * 16. */
  headOff: Int32Array;
}

const layoutTables = new WeakMap<TokenGroupLayout, Map<string, LayoutTables>>();

function tablesFor(layout: TokenGroupLayout, geometry: KvGeometry, half: boolean): LayoutTables {
  const key = `${geometry.queryHeads}/${geometry.kvHeads}/${geometry.headDim}/${half}`;
  let byKey = layoutTables.get(layout);
  if (byKey === undefined) {
    byKey = new Map();
    layoutTables.set(layout, byKey);
  }
  const cached = byKey.get(key);
  if (cached !== undefined) return cached;
  const { kvHeads, headDim, queryHeads } = geometry;
  const channels = layout.channels;
  const { storageOf } = layoutPlan(layout);
  const halfDim = headDim / 2;
  const pairs = new Int32Array(kvHeads * halfDim * 2);
  for (let kh = 0; kh < kvHeads; kh++) {
    for (let i = 0; i < halfDim; i++) {
      const [a, b] = pairChannels(headDim, half, i);
      const o = (kh * halfDim + i) * 2;
      pairs[o] = 16 * (storageOf[kh * headDim + a] as number);
      pairs[o + 1] = 16 * (storageOf[kh * headDim + b] as number);
    }
  }
  const group = queryHeads / kvHeads;
  const headOff = new Int32Array(channels);
  const perm = layout.perm;
  for (let j = 0; j < channels; j++) {
    const c = perm === null ? j : (perm[j] as number);
    headOff[j] = Math.floor(c / headDim) * group * 16;
  }
  const tables = { pairs, headOff };
  byKey.set(key, tables);
  return tables;
}

/** Byte addresses the packed kernels use (allocated by the caller's memory plan). */
export interface PackedPlan {
  table: number;
  offs: number;
  cbuf: number;
  cstride: number;
  tbuf: number;
  pairs: number;
  qpair: number;
  headOff: number;
  accS: number;
  /** One block of keys dequantized in stored order, [channels][4] f32. */
  kq: number;
  codes: number;
  meta: number;
  /** Raw metadata bytes of a chunk, and the f32 decode table of fp8 / fp16 values. */
  metaRaw: number;
  metaTable: number;
  cos: number;
  scores: number;
  /** packedKeysPost's tables (fused-runs.ts): run order, runs, runs per KV head, query. */
  ridx: number;
  /** A second transposed-codes buffer: packedKeysPost and packedValues take two blocks at a time. */
  tbuf2: number;
  runs: number;
  groupRuns: number;
  qs: number;
  qrun: number;
}

/** Bytes of the packed kernels' buffers for this geometry (see PackedPlan). */
export function packedBytes(geometry: KvGeometry, maxGroups: number) {
  const { kvHeads, headDim, queryHeads } = geometry;
  const channels = kvHeads * headDim;
  const cstride = (channels + 16 + 15) & ~15;
  return {
    cstride,
    cbuf: 4 * cstride,
    // The SIMD decoders write up to 15 bytes' codes past the row (75 ternary codes).
    tbuf: 4 * (channels + 80),
    pairs: 8 * kvHeads * (headDim / 2),
    kq: 16 * channels,
    qpair: 8 * queryHeads * (headDim / 2),
    headOff: 4 * channels,
    accS: 16 * (queryHeads / kvHeads) * channels,
    // Rows of 8-bit codes are the largest: channels bytes.
    codes: PACKED_CHUNK_TOKENS * channels,
    meta: 8 * PACKED_CHUNK_TOKENS * maxGroups,
    metaRaw: 8 * PACKED_CHUNK_TOKENS * maxGroups,
    // fp16: one f32 per bit pattern.
    metaTable: 4 * 65536,
    cos: 4 * PACKED_CHUNK_TOKENS * headDim,
    scores: 4 * PACKED_CHUNK_TOKENS * queryHeads,
    ridx: 4 * channels,
    tbuf2: 4 * (channels + 80),
    runs: 8 * channels,
    groupRuns: 4 * kvHeads,
    qs: 4 * queryHeads * headDim,
    qrun: 4 * queryHeads * headDim,
  };
}

/** Rotated query as (q_a, q_b) per (query head, pair), once per step. */
export function writeQueryPairs(
  qr: Float32Array,
  geometry: KvGeometry,
  half: boolean,
  f32: Float32Array,
  plan: PackedPlan,
): void {
  const { queryHeads, headDim } = geometry;
  const halfDim = headDim / 2;
  let o = plan.qpair >> 2;
  for (let h = 0; h < queryHeads; h++) {
    for (let i = 0; i < halfDim; i++, o += 2) {
      const [a, b] = pairChannels(headDim, half, i);
      f32[o] = qr[h * headDim + a] as number;
      f32[o + 1] = qr[h * headDim + b] as number;
    }
  }
}

/**
 * What the two lookup tables of a module instance hold (the plan puts them at fixed
 * addresses, below every per-call buffer, so they survive across calls): the fp16 table is
 * 256 KiB, and copying it on every call cost about a quarter of a small model's decode.
 */
const loadedTables = new WeakMap<FusedAttentionExports, { bits?: BitWidth; meta?: string }>();

/** Points the module at one packed segment: decode table, group offsets, address tables. */
export function configurePacked(
  ex: FusedAttentionExports,
  seg: PackedSegment & { layout: TokenGroupLayout },
  geometry: KvGeometry,
  half: boolean,
  plan: PackedPlan,
  tablesLaidOut = false,
): void {
  const layout = seg.layout;
  const mem = ex.memory.buffer;
  let loaded = loadedTables.get(ex);
  if (loaded === undefined) {
    loaded = {};
    loadedTables.set(ex, loaded);
  }
  if (loaded.bits !== layout.bits) {
    new Uint8Array(mem, plan.table, 256 * 8).set(wasmDecodeTable(layout.bits));
    loaded.bits = layout.bits;
  }
  if (loaded.meta !== layout.meta) {
    if (layout.meta === 'fp8e4m3') new Float32Array(mem, plan.metaTable, 256).set(fp8Table());
    else if (layout.meta === 'fp16') new Float32Array(mem, plan.metaTable, 65536).set(fp16Table());
    loaded.meta = layout.meta;
  }
  const groups = layout.groupOffsets.length - 1;
  // The pages of one stream share their layout: its tables are laid out once per pass.
  if (!tablesLaidOut) {
    new Int32Array(mem, plan.offs, groups + 1).set(layout.groupOffsets);
    const { pairs, headOff } = tablesFor(layout, geometry, half);
    const pt = new Int32Array(mem, plan.pairs, pairs.length);
    for (let p = 0; p < pairs.length; p++) pt[p] = plan.kq + (pairs[p] as number);
    new Int32Array(mem, plan.headOff, headOff.length).set(headOff);
  }
  ex.configureLayout(
    CODES_PER_BYTE[layout.bits] as number,
    rowCodeBytes(layout),
    layout.channels,
    plan.table,
    groups,
    plan.offs,
    plan.cbuf,
    0,
  );
  ex.configureBlocks(
    plan.cstride,
    plan.tbuf,
    plan.pairs,
    plan.qpair,
    plan.headOff,
    plan.accS,
    plan.kq,
  );
  ex.configureTbuf2(plan.tbuf2);
}

/**
 * Points packedKeysPost at a segment's run tables and lays the rotated query out in run
 * order (keys stored after RoPE or without RoPE: the query is the same for every key).
 */
export function configureRuns(
  ex: FusedAttentionExports,
  seg: PackedSegment & { layout: TokenGroupLayout },
  geometry: KvGeometry,
  qr: Float32Array,
  f32: Float32Array,
  plan: PackedPlan,
  tablesLaidOut = false,
): void {
  if (tablesLaidOut) {
    ex.configureRuns(plan.ridx, plan.runs, plan.groupRuns, plan.qs, plan.qrun);
    return;
  }
  const tables = runTables(seg.layout, geometry);
  const mem = ex.memory.buffer;
  new Int32Array(mem, plan.ridx, tables.ridx.length).set(tables.ridx);
  new Int32Array(mem, plan.runs, tables.runs.length).set(tables.runs);
  new Int32Array(mem, plan.groupRuns, tables.headRuns.length).set(tables.headRuns);
  writeRunQuery(qr, tables, geometry, f32, plan.qs >> 2, plan.qrun >> 2);
  ex.configureRuns(plan.ridx, plan.runs, plan.groupRuns, plan.qs, plan.qrun);
}

/**
 * Copies tokens first .. first+count-1 of the segment into the chunk buffers, padded to
 * whole blocks of 4 (zero codes, zero scale and zero: finite, and given no weight), and lays
 * the scale/zero pairs out as [block][group][scale x4, zero x4]. Returns the block count.
 */
export function fillPackedChunk(
  ex: FusedAttentionExports,
  seg: PackedSegment & { layout: TokenGroupLayout },
  first: number,
  count: number,
  u8: Uint8Array,
  f32: Float32Array,
  plan: PackedPlan,
): number {
  const layout = seg.layout;
  const rowBytes = rowCodeBytes(layout);
  const blocks = (count + 3) >> 2;
  u8.set(seg.codes.subarray(first * rowBytes, (first + count) * rowBytes), plan.codes);
  // Padding rows, and 16 bytes the SIMD decoders read past the last row: zero codes.
  u8.fill(0, plan.codes + count * rowBytes, plan.codes + blocks * 4 * rowBytes + 16);
  const groups = layout.groupOffsets.length - 1;
  const metaBytes = metaBytesPerUnit(layout);
  u8.set(seg.meta.subarray(first * metaBytes, (first + count) * metaBytes), plan.metaRaw);
  ex.metaBlocks(count, META_BYTES[layout.meta], plan.metaRaw, plan.metaTable);
  const m0 = plan.meta >> 2;
  // Padding slots of the last block: scale 0 and zero 0 (finite, and given no weight).
  for (let t = count; t < blocks * 4; t++) {
    let dst = m0 + (t >> 2) * groups * 8 + (t & 3);
    for (let g = 0; g < groups; g++, dst += 8) {
      f32[dst] = 0;
      f32[dst + 4] = 0;
    }
  }
  return blocks;
}

/** Re-reads a chunk the module flagged (a ternary byte above 242) to throw decodeRow's error. */
export function throwBadChunk(seg: PackedSegment, first: number, count: number): never {
  const rowBytes = rowCodeBytes(seg.layout);
  const q = new Uint8Array(seg.layout.channels + 8);
  for (let t = first; t < first + count; t++) {
    decodeRow(seg.layout.bits, seg.codes, t * rowBytes, seg.layout.channels, q);
  }
  throw new Error('unreachable: the fused kernel flagged a byte the row decoder accepts');
}

/**
 * Adds the packed value accumulator (lanes summed, stored order undone) into the float64
 * output accumulator [queryHeads * headDim], then clears it.
 */
export function flushPackedValues(
  layout: TokenGroupLayout,
  geometry: KvGeometry,
  f32: Float32Array,
  acc: Float64Array,
  plan: PackedPlan,
): void {
  const { kvHeads, headDim, queryHeads } = geometry;
  const group = queryHeads / kvHeads;
  const channels = kvHeads * headDim;
  const { storageOf } = layoutPlan(layout);
  const a0 = plan.accS >> 2;
  for (let gq = 0; gq < group; gq++) {
    const plane = a0 + gq * channels * 4;
    for (let c = 0; c < channels; c++) {
      const a = plane + 4 * (storageOf[c] as number);
      const kh = Math.floor(c / headDim);
      const o = (kh * group + gq) * headDim + (c - kh * headDim);
      acc[o] =
        (acc[o] as number) +
        ((f32[a] as number) +
          (f32[a + 1] as number) +
          ((f32[a + 2] as number) + (f32[a + 3] as number)));
    }
  }
  f32.fill(0, a0, a0 + group * channels * 4);
}
