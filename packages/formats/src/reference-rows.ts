import {
  type ChannelBlockLayout,
  type DequantizeInputs,
  type KvSegment,
  metaBytesPerUnit,
  type QuantLayout,
  rowCodeBytes,
  SkvqError,
} from '@skvq/core';
import { dequantizeBlockReference } from './channel-block.js';
import { decodeFp16 } from './minifloat.js';
import { dequantizeTokensReference } from './token-group.js';

/**
 * The reference's way to read cached tokens: reconstruct them in original channel order
 * with the reference dequantizers. Obvious, allocation-happy and slow; it is the oracle.
 */

/** Reconstructs `count` tokens of a packed page from token `first` on: [count, channels]. */
export function dequantizeReference(
  layout: QuantLayout,
  codes: Uint8Array,
  meta: Uint8Array,
  first: number,
  count: number,
): Float32Array {
  const channels = layout.channels;
  const out = new Float32Array(count * channels);
  if (layout.kind === 'token-group') {
    dequantizeTokensReference(
      layout,
      codes,
      first * rowCodeBytes(layout),
      meta,
      first * metaBytesPerUnit(layout),
      count,
      out,
      0,
    );
    return out;
  }
  dequantizeBlockRange(layout, codes, meta, first, count, out);
  return out;
}

/** Channel-block pages are stored a block at a time: reconstruct each touched block whole. */
function dequantizeBlockRange(
  layout: ChannelBlockLayout,
  codes: Uint8Array,
  meta: Uint8Array,
  first: number,
  count: number,
  out: Float32Array,
): void {
  const { channels, blockTokens } = layout;
  const block = new Float32Array(blockTokens * channels);
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  for (let t = first; t < first + count; ) {
    const b = Math.floor(t / blockTokens);
    dequantizeBlockReference(
      layout,
      codes,
      b * blockTokens * rowBytes,
      meta,
      b * metaBytes,
      block,
      0,
    );
    const blockEnd = Math.min((b + 1) * blockTokens, first + count);
    for (; t < blockEnd; t++) {
      const src = (t - b * blockTokens) * channels;
      out.set(block.subarray(src, src + channels), (t - first) * channels);
    }
  }
}

/** The dequantize kernel's edge checks (first/count inside the page's bytes). */
export function checkDequantizeInputs(inputs: DequantizeInputs, where: string): void {
  const { layout, first, count } = inputs;
  for (const [name, v] of [
    ['first', first],
    ['count', count],
  ] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `${where}: ${name} ${String(v)} must be a non-negative integer`,
      );
    }
  }
  if (layout?.kind !== 'token-group' && layout?.kind !== 'channel-block') {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: layout.kind ${String((layout as { kind?: unknown })?.kind)} is not supported; expected token-group, channel-block`,
    );
  }
}

/** Every token of one segment in original channel order, as float32: [count, channels]. */
export function segmentRowsReference(seg: KvSegment, channels: number): Float32Array {
  if (seg.kind === 'packed')
    return dequantizeReference(seg.layout, seg.codes, seg.meta, 0, seg.count);
  const out = new Float32Array(seg.count * channels);
  if (seg.precision === 'fp32') {
    out.set((seg.data as Float32Array).subarray(0, seg.count * channels));
  } else {
    for (let i = 0; i < seg.count * channels; i++) out[i] = decodeFp16(seg.data[i] as number);
  }
  return out;
}
