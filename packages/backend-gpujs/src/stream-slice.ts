import {
  type KvSegment,
  metaBytesPerUnit,
  type PackedSegment,
  type QuantLayout,
  rowCodeBytes,
  tokensPerMetaUnit,
} from '@skvq/core';
import { decodeMetaRun, fp16Table, layoutPlan } from '@skvq/formats';
import { FloatBuffer } from './float-buffer.js';
import { codeBase, layoutTable } from './layout-table.js';

/**
 * Host side of the attention and dequantize kernels: one "slice" (a run of consecutive
 * positions) of one stream (keys or values) as two float arrays the kernels read.
 *
 * `info` has INFO_STRIDE floats per position: [base, dataOffset, metaOffset, tableOffset].
 * base is 0 for a full-precision row (its channels at data[dataOffset ..]), -1 for a padded
 * position past the slice's end, else the code base of a packed row (3, 4, 8, 16 or 256)
 * whose byte pairs start at data[dataOffset], whose scale/zero pairs start at
 * data[metaOffset] (decoded to float32 on the host: one pair per group, 1/groupSize of the
 * data) and whose layout table starts at data[tableOffset] (layout-table.ts).
 * Codes stay packed: the kernel extracts each one arithmetically where it is used.
 */
export const INFO_STRIDE = 4;
export const PAD_BASE = -1;

/** Where each position lives: segment and row (the segments were validated before). */
export interface StreamIndex {
  readonly segments: readonly KvSegment[];
  readonly segOf: Int32Array;
  readonly rowOf: Int32Array;
}

export function indexStream(segments: readonly KvSegment[], length: number): StreamIndex {
  const segOf = new Int32Array(length);
  const rowOf = new Int32Array(length);
  segments.forEach((seg, s) => {
    for (let i = 0; i < seg.count; i++) {
      const p = seg.positions[i] as number;
      segOf[p] = s;
      rowOf[p] = i;
    }
  });
  return { segments, segOf, rowOf };
}

export interface StreamSlice {
  info: Float32Array;
  data: Float32Array;
}

/** Builds one slice: positions first .. first+count-1, padded to `tokens` positions. */
export function buildSlice(
  index: StreamIndex,
  first: number,
  count: number,
  tokens: number,
  channels: number,
): StreamSlice {
  const info = new Float32Array(tokens * INFO_STRIDE);
  const data = new FloatBuffer();
  const tableAt = new Map<QuantLayout, number>();
  const unitAt = new Map<number, number>();
  const fp16 = fp16Table();
  for (let i = 0; i < tokens; i++) {
    const o = i * INFO_STRIDE;
    if (i >= count) {
      info[o] = PAD_BASE;
      continue;
    }
    const p = first + i;
    const s = index.segOf[p] as number;
    const row = index.rowOf[p] as number;
    const seg = index.segments[s] as KvSegment;
    if (seg.kind === 'fp') {
      info[o] = 0;
      const at = data.reserve(channels);
      info[o + 1] = at;
      const dst = data.array;
      if (seg.precision === 'fp32') {
        dst.set((seg.data as Float32Array).subarray(row * channels, (row + 1) * channels), at);
      } else {
        const src = seg.data as Uint16Array;
        for (let c = 0; c < channels; c++)
          dst[at + c] = fp16[src[row * channels + c] as number] as number;
      }
      continue;
    }
    const layout = seg.layout;
    info[o] = codeBase(layout.bits);
    info[o + 1] = addPairs(data, seg, row);
    info[o + 2] = addMetaUnit(data, unitAt, seg, s, row);
    let t = tableAt.get(layout);
    if (t === undefined) {
      t = data.push(layoutTable(layout));
      tableAt.set(layout, t);
    }
    info[o + 3] = t;
  }
  return { info, data: data.view() };
}

/** One packed row as byte pairs: float k = byte k + 256 * byte k+1. */
function addPairs(data: FloatBuffer, seg: PackedSegment, row: number): number {
  const bytes = rowCodeBytes(seg.layout);
  const at = data.reserve(bytes);
  const dst = data.array;
  const codes = seg.codes;
  const start = row * bytes;
  for (let b = 0; b < bytes; b++) {
    const next = start + b + 1 < codes.length ? (codes[start + b + 1] as number) : 0;
    dst[at + b] = (codes[start + b] as number) + 256 * next;
  }
  return at;
}

/** The row's metadata unit decoded to float32 (once per slice for channel-block units). */
function addMetaUnit(
  data: FloatBuffer,
  unitAt: Map<number, number>,
  seg: PackedSegment,
  s: number,
  row: number,
): number {
  const layout = seg.layout;
  const unit = Math.floor(row / tokensPerMetaUnit(layout));
  // Segments are at most 2^24 rows (far more than a slice), so the key is unique.
  const key = s * 2 ** 24 + unit;
  const known = unitAt.get(key);
  if (known !== undefined) return known;
  const n = 2 * layoutPlan(layout).pairs;
  const at = data.reserve(n);
  decodeMetaRun(
    layout.meta,
    seg.meta,
    unit * metaBytesPerUnit(layout),
    n,
    data.array.subarray(at, at + n),
  );
  unitAt.set(key, at);
  return at;
}
