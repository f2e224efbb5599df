import {
  groupCount,
  META_BYTES,
  maxQ,
  metaBytesPerUnit,
  rowCodeBytes,
  type TokenGroupLayout,
} from '@skvq/core';
import { assertFinite, assertSpan } from './buffers.js';
import { readMeta, writeMeta } from './meta.js';
import { packCodes, unpackCodes } from './pack.js';
import { dequantizeValue, quantizeValue, quantParams } from './quant-params.js';
import { assertPositiveInt, validateTokenGroupLayout } from './validate.js';

/**
 * Reference (scalar, obvious) per-token group quantization of SKVQ.md section 2 for
 * token-group layouts. Every backend's quantize kernel must match it byte for byte.
 *
 * Storage of one token: a packed row of rowCodeBytes(layout) bytes (codes in the layout's
 * permuted channel order, formats.ts), and metaBytesPerUnit(layout) bytes of interleaved
 * `[scale_0, zero_0, scale_1, zero_1, ...]` in the metadata format, little-endian.
 */

/** Quantizes one already-validated, already-finite token; writes only after all checks. */
function quantizeOne(
  layout: TokenGroupLayout,
  x: Float32Array,
  xOffset: number,
  codes: Uint8Array,
  codesOffset: number,
  meta: Uint8Array,
  metaOffset: number,
  scratch: Uint8Array,
  params: Float32Array,
): void {
  const { perm, groupOffsets, bits, alpha } = layout;
  const maxq = maxQ(bits);
  const groups = groupCount(layout);
  // Phase 1: everything that can throw (metadata range), so a failure writes nothing.
  for (let g = 0; g < groups; g++) {
    const start = groupOffsets[g]!;
    const end = groupOffsets[g + 1]!;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = start; j < end; j++) {
      const v = x[xOffset + (perm === null ? j : perm[j]!)]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const { scale, zero } = quantParams(min, max, alpha, bits, layout.meta);
    params[2 * g] = scale;
    params[2 * g + 1] = zero;
    for (let j = start; j < end; j++) {
      const v = x[xOffset + (perm === null ? j : perm[j]!)]!;
      scratch[j] = quantizeValue(v, scale, zero, maxq);
    }
  }
  // Phase 2: write.
  packCodes(bits, scratch, codes, codesOffset);
  const size = META_BYTES[layout.meta];
  for (let g = 0; g < groups; g++) {
    writeMeta(layout.meta, meta, metaOffset + 2 * g * size, params[2 * g]!);
    writeMeta(layout.meta, meta, metaOffset + (2 * g + 1) * size, params[2 * g + 1]!);
  }
}

function checkOutputs(
  layout: TokenGroupLayout,
  count: number,
  codes: Uint8Array,
  codesOffset: number,
  meta: Uint8Array,
  metaOffset: number,
  where: string,
) {
  assertSpan(codes.length, codesOffset, count * rowCodeBytes(layout), 'codes', where);
  assertSpan(meta.length, metaOffset, count * metaBytesPerUnit(layout), 'meta', where);
}

/**
 * Quantizes one token: x[xOffset .. xOffset + channels) in ORIGINAL channel order. Writes
 * rowCodeBytes(layout) code bytes at codesOffset and metaBytesPerUnit(layout) metadata
 * bytes at metaOffset. Throws NON_FINITE_INPUT on NaN/Inf (before writing anything).
 */
export function quantizeTokenReference(
  layout: TokenGroupLayout,
  x: Float32Array,
  xOffset: number,
  codes: Uint8Array,
  codesOffset: number,
  meta: Uint8Array,
  metaOffset: number,
): void {
  const channels = layout?.channels ?? 0;
  assertSpan(x.length, xOffset, channels, 'x', 'quantizeTokenReference', 'SHAPE_MISMATCH');
  const token = x.subarray(xOffset, xOffset + channels);
  quantizeTokensReference(layout, token, 1, codes, codesOffset, meta, metaOffset);
}

/**
 * Quantizes `count` tokens x = [count, channels] (ORIGINAL channel order); token i's row
 * goes to codesOffset + i * rowCodeBytes(layout), its metadata to
 * metaOffset + i * metaBytesPerUnit(layout). The whole input is checked for NaN/Inf first,
 * so a rejected batch writes nothing; a metadata range error (|lo| or scale beyond the
 * format, only from huge activations) leaves earlier tokens of the batch written.
 */
export function quantizeTokensReference(
  layout: TokenGroupLayout,
  x: Float32Array,
  count: number,
  codes: Uint8Array,
  codesOffset: number,
  meta: Uint8Array,
  metaOffset: number,
): void {
  const where = 'quantizeTokensReference';
  validateTokenGroupLayout(layout, where);
  assertPositiveInt(count + 1, 'count + 1', where); // count may be 0
  const channels = layout.channels;
  assertSpan(x.length, 0, count * channels, 'x ([count, channels])', where, 'SHAPE_MISMATCH');
  checkOutputs(layout, count, codes, codesOffset, meta, metaOffset, where);
  assertFinite(x, 0, count * channels, where);
  const scratch = new Uint8Array(channels);
  const params = new Float32Array(2 * groupCount(layout));
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  for (let t = 0; t < count; t++) {
    quantizeOne(
      layout,
      x,
      t * channels,
      codes,
      codesOffset + t * rowBytes,
      meta,
      metaOffset + t * metaBytes,
      scratch,
      params,
    );
  }
}

/**
 * Reconstructs one token into out[outOffset .. outOffset + channels) in ORIGINAL channel
 * order: x_hat = f32(f32(q * scale) + zero) with the stored scale and zero of its group.
 */
export function dequantizeTokenReference(
  layout: TokenGroupLayout,
  codes: Uint8Array,
  codesOffset: number,
  meta: Uint8Array,
  metaOffset: number,
  out: Float32Array,
  outOffset: number,
): void {
  dequantizeTokensReference(layout, codes, codesOffset, meta, metaOffset, 1, out, outOffset);
}

/** Reconstructs `count` consecutive tokens into out = [count, channels] at outOffset. */
export function dequantizeTokensReference(
  layout: TokenGroupLayout,
  codes: Uint8Array,
  codesOffset: number,
  meta: Uint8Array,
  metaOffset: number,
  count: number,
  out: Float32Array,
  outOffset: number,
): void {
  const where = 'dequantizeTokensReference';
  validateTokenGroupLayout(layout, where);
  assertPositiveInt(count + 1, 'count + 1', where); // count may be 0
  const channels = layout.channels;
  checkOutputs(layout, count, codes, codesOffset, meta, metaOffset, where);
  assertSpan(out.length, outOffset, count * channels, 'out', where, 'SHAPE_MISMATCH');
  const { perm, groupOffsets, bits } = layout;
  const groups = groupCount(layout);
  const size = META_BYTES[layout.meta];
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  const q = new Uint8Array(channels);
  for (let t = 0; t < count; t++) {
    unpackCodes(bits, codes, codesOffset + t * rowBytes, channels, q);
    const m = metaOffset + t * metaBytes;
    const base = outOffset + t * channels;
    for (let g = 0; g < groups; g++) {
      const scale = readMeta(layout.meta, meta, m + 2 * g * size);
      const zero = readMeta(layout.meta, meta, m + (2 * g + 1) * size);
      for (let j = groupOffsets[g]!; j < groupOffsets[g + 1]!; j++) {
        out[base + (perm === null ? j : perm[j]!)] = dequantizeValue(q[j]!, scale, zero);
      }
    }
  }
}
