import {
  groupCount,
  META_BYTES,
  maxQ,
  metaBytesPerUnit,
  type QuantizeTokensInputs,
  rowCodeBytes,
  SkvqError,
} from '@skvq/core';
import {
  assertFinite,
  assertSpan,
  packCodes,
  quantParams,
  validateTokenGroupLayout,
  writeMeta,
} from '@skvq/formats';

/**
 * Fast token-group quantize: the same float32 steps as quantizeTokensReference (so the
 * bytes are identical; the conformance suite checks it), with the checks done once per
 * batch, scratch buffers reused across tokens and the per-value rounding inlined.
 * The metadata rounding itself (quantParams, writeMeta) is shared with the reference: it
 * runs once per group, not per value, and sharing it is what keeps the bytes identical.
 */
export function quantizeTokensFast(inputs: QuantizeTokensInputs): void {
  const where = 'quantizeTokens (cpu)';
  const { layout, x, count, codes, codesOffset, meta, metaOffset } = inputs;
  validateTokenGroupLayout(layout, where);
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: count ${String(count)} must be a non-negative integer`,
    );
  }
  const channels = layout.channels;
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  assertSpan(x.length, 0, count * channels, 'x ([count, channels])', where, 'SHAPE_MISMATCH');
  assertSpan(codes.length, codesOffset, count * rowBytes, 'codes', where);
  assertSpan(meta.length, metaOffset, count * metaBytes, 'meta', where);
  assertFinite(x, 0, count * channels, where);
  const { perm, groupOffsets, bits, alpha } = layout;
  const maxq = maxQ(bits);
  const groups = groupCount(layout);
  const size = META_BYTES[layout.meta];
  const fround = Math.fround;
  // Token values in stored (permuted) order, gathered once per token.
  const xs = new Float32Array(channels);
  const q = new Uint8Array(channels);
  const params = new Float32Array(2 * groups);
  for (let t = 0; t < count; t++) {
    const base = t * channels;
    if (perm === null) xs.set(x.subarray(base, base + channels));
    else for (let j = 0; j < channels; j++) xs[j] = x[base + (perm[j] as number)] as number;
    for (let g = 0; g < groups; g++) {
      const start = groupOffsets[g] as number;
      const end = groupOffsets[g + 1] as number;
      let min = xs[start] as number;
      let max = min;
      for (let j = start + 1; j < end; j++) {
        const v = xs[j] as number;
        if (v < min) min = v;
        else if (v > max) max = v;
      }
      const { scale, zero } = quantParams(min, max, alpha, bits, layout.meta);
      params[2 * g] = scale;
      params[2 * g + 1] = zero;
      for (let j = start; j < end; j++) {
        // quantizeValue of the reference, inlined: every step rounded to float32.
        let c = fround(fround((xs[j] as number) - zero) / scale);
        if (c < 0) c = 0;
        else if (c > maxq) c = maxq;
        q[j] = Math.floor(fround(c + 0.5));
      }
    }
    packCodes(bits, q, codes, codesOffset + t * rowBytes);
    const m = metaOffset + t * metaBytes;
    for (let i = 0; i < 2 * groups; i++)
      writeMeta(layout.meta, meta, m + i * size, params[i] as number);
  }
}
