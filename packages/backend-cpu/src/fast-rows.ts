import { type KvSegment, metaBytesPerUnit, rowCodeBytes } from '@skvq/core';
import { decodeMetaRun, decodeRow, fp16Table, layoutPlan } from '@skvq/formats';

/** Fills `out` (channels floats, original channel order) with token i of a segment. */
export type RowReader = (i: number, out: Float32Array) => void;

/**
 * A reader over one (already validated) segment that reconstructs a single token row at a
 * time into a caller-owned scratch row: packed codes are table-decoded and dequantized on
 * the fly (x = q * scale + zero), gathered into original order through the layout plan, so
 * no dequantized copy of the cache ever exists.
 */
export function rowReader(seg: KvSegment, channels: number): RowReader {
  if (seg.kind === 'fp') {
    if (seg.precision === 'fp32') {
      const data = seg.data as Float32Array;
      // A plain loop: a subarray view per token would allocate on the hot path.
      return (i, out) => {
        const base = i * channels;
        for (let c = 0; c < channels; c++) out[c] = data[base + c] as number;
      };
    }
    const data = seg.data as Uint16Array;
    const table = fp16Table();
    return (i, out) => {
      const base = i * channels;
      for (let c = 0; c < channels; c++) out[c] = table[data[base + c] as number] as number;
    };
  }
  const { layout, codes, meta } = seg;
  const { storageOf, pairs } = layoutPlan(layout);
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  const fround = Math.fround;
  const q = new Uint8Array(channels);
  const stored = new Float32Array(2 * pairs);
  if (layout.kind === 'channel-block') {
    // One scale/zero per channel per block, natural order: dequantize straight into out.
    const blockTokens = layout.blockTokens;
    let loadedBlock = -1;
    return (i, out) => {
      const block = Math.floor(i / blockTokens);
      if (block !== loadedBlock) {
        decodeMetaRun(layout.meta, meta, block * metaBytes, 2 * pairs, stored);
        loadedBlock = block;
      }
      decodeRow(layout.bits, codes, i * rowBytes, channels, q);
      for (let c = 0; c < channels; c++) {
        // f32(f32(q * scale) + zero): the reference's two roundings (the store rounds the sum).
        out[c] =
          fround((q[c] as number) * (stored[2 * c] as number)) + (stored[2 * c + 1] as number);
      }
    };
  }
  // Token-group: dequantize group by group in stored order (scale and zero hoisted), then
  // gather into original order once through the inverse permutation.
  const { groupOffsets } = layout;
  const identity = layout.perm === null;
  const inStorage = new Float32Array(channels);
  return (i, out) => {
    decodeMetaRun(layout.meta, meta, i * metaBytes, 2 * pairs, stored);
    decodeRow(layout.bits, codes, i * rowBytes, channels, q);
    const target = identity ? out : inStorage;
    for (let g = 0; g < pairs; g++) {
      const scale = stored[2 * g] as number;
      const zero = stored[2 * g + 1] as number;
      const end = groupOffsets[g + 1] as number;
      for (let j = groupOffsets[g] as number; j < end; j++) {
        target[j] = fround((q[j] as number) * scale) + zero;
      }
    }
    if (!identity) {
      for (let c = 0; c < channels; c++) out[c] = inStorage[storageOf[c] as number] as number;
    }
  };
}
