import {
  type ChannelBlockLayout,
  META_BYTES,
  maxQ,
  metaBytesPerUnit,
  rowCodeBytes,
} from '@skvq/core';
import { assertFinite, assertSpan } from './buffers.js';
import { readMeta, writeMeta } from './meta.js';
import { packCodes, unpackCodes } from './pack.js';
import { dequantizeValue, quantizeValue, quantParams } from './quant-params.js';
import { validateChannelBlockLayout } from './validate.js';

/**
 * Reference per-channel block quantization (KIVI's keys) with the SAME formula, metadata
 * rounding and float32 arithmetic as the SKVQ token-group reference (quantParams /
 * quantizeValue, quant-params.ts), only the statistics run down a channel over
 * the block's tokens instead of across a token's group.
 *
 * Storage of one block: blockTokens packed rows, token-major (row t holds the codes of token
 * t in natural channel order, rowCodeBytes(layout) bytes each), then separately
 * metaBytesPerUnit(layout) bytes of `[scale_c0, zero_c0, scale_c1, zero_c1, ...]`.
 */

/**
 * Quantizes one block x = [blockTokens, channels] (natural order) starting at xOffset.
 * Writes blockTokens * rowCodeBytes(layout) code bytes at codesOffset and
 * metaBytesPerUnit(layout) metadata bytes at metaOffset. NaN/Inf or a metadata range error
 * throws before anything is written.
 */
export function quantizeBlockReference(
  layout: ChannelBlockLayout,
  x: Float32Array,
  xOffset: number,
  codes: Uint8Array,
  codesOffset: number,
  meta: Uint8Array,
  metaOffset: number,
): void {
  const where = 'quantizeBlockReference';
  validateChannelBlockLayout(layout, where);
  const { channels, blockTokens, bits, alpha } = layout;
  const rowBytes = rowCodeBytes(layout);
  assertSpan(x.length, xOffset, blockTokens * channels, 'x', where, 'SHAPE_MISMATCH');
  assertSpan(codes.length, codesOffset, blockTokens * rowBytes, 'codes', where);
  assertSpan(meta.length, metaOffset, metaBytesPerUnit(layout), 'meta', where);
  assertFinite(x, xOffset, blockTokens * channels, where);
  const maxq = maxQ(bits);
  const q = new Uint8Array(blockTokens * channels);
  const params = new Float32Array(2 * channels);
  for (let c = 0; c < channels; c++) {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let t = 0; t < blockTokens; t++) {
      const v = x[xOffset + t * channels + c]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const { scale, zero } = quantParams(min, max, alpha, bits, layout.meta);
    params[2 * c] = scale;
    params[2 * c + 1] = zero;
    for (let t = 0; t < blockTokens; t++) {
      q[t * channels + c] = quantizeValue(x[xOffset + t * channels + c]!, scale, zero, maxq);
    }
  }
  for (let t = 0; t < blockTokens; t++) {
    packCodes(
      bits,
      q.subarray(t * channels, (t + 1) * channels),
      codes,
      codesOffset + t * rowBytes,
    );
  }
  const size = META_BYTES[layout.meta];
  for (let i = 0; i < 2 * channels; i++) {
    writeMeta(layout.meta, meta, metaOffset + i * size, params[i]!);
  }
}

/** Reconstructs one block into out = [blockTokens, channels] (natural order) at outOffset. */
export function dequantizeBlockReference(
  layout: ChannelBlockLayout,
  codes: Uint8Array,
  codesOffset: number,
  meta: Uint8Array,
  metaOffset: number,
  out: Float32Array,
  outOffset: number,
): void {
  const where = 'dequantizeBlockReference';
  validateChannelBlockLayout(layout, where);
  const { channels, blockTokens, bits } = layout;
  const rowBytes = rowCodeBytes(layout);
  assertSpan(codes.length, codesOffset, blockTokens * rowBytes, 'codes', where);
  assertSpan(meta.length, metaOffset, metaBytesPerUnit(layout), 'meta', where);
  assertSpan(out.length, outOffset, blockTokens * channels, 'out', where, 'SHAPE_MISMATCH');
  const size = META_BYTES[layout.meta];
  const scales = new Float32Array(channels);
  const zeros = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    scales[c] = readMeta(layout.meta, meta, metaOffset + 2 * c * size);
    zeros[c] = readMeta(layout.meta, meta, metaOffset + (2 * c + 1) * size);
  }
  const q = new Uint8Array(channels);
  for (let t = 0; t < blockTokens; t++) {
    unpackCodes(bits, codes, codesOffset + t * rowBytes, channels, q);
    const base = outOffset + t * channels;
    for (let c = 0; c < channels; c++) {
      out[base + c] = dequantizeValue(q[c]!, scales[c]!, zeros[c]!);
    }
  }
}
