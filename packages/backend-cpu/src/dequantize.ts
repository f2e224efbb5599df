import {
  type DequantizeInputs,
  metaBytesPerUnit,
  type PackedSegment,
  rowCodeBytes,
  tokensPerMetaUnit,
} from '@skvq/core';
import {
  assertSpan,
  checkDequantizeInputs,
  dequantizeReference,
  validateLayout,
} from '@skvq/formats';
import { rowReader } from './fast-rows.js';

function checkLayoutAndBytes(inputs: DequantizeInputs, where: string): void {
  checkDequantizeInputs(inputs, where);
  const { layout, codes, meta, first, count } = inputs;
  validateLayout(layout, where);
  const unit = tokensPerMetaUnit(layout);
  const end = first + count;
  assertSpan(codes.length, 0, end * rowCodeBytes(layout), 'codes', where);
  assertSpan(meta.length, 0, Math.ceil(end / unit) * metaBytesPerUnit(layout), 'meta', where);
}

/** Reference dequantize kernel: the reference quantizers' dequantizers, token range sliced. */
export function dequantizeKernelReference(inputs: DequantizeInputs): Float32Array {
  const where = 'dequantize (cpu-reference)';
  checkLayoutAndBytes(inputs, where);
  return dequantizeReference(inputs.layout, inputs.codes, inputs.meta, inputs.first, inputs.count);
}

/** Fast dequantize: the attention path's row reader (table decode, same float32 rounding). */
export function dequantizeKernelFast(inputs: DequantizeInputs): Float32Array {
  const where = 'dequantize (cpu)';
  checkLayoutAndBytes(inputs, where);
  const { layout, codes, meta, first, count } = inputs;
  const channels = layout.channels;
  const seg: PackedSegment = {
    kind: 'packed',
    count: first + count,
    layout,
    codes,
    meta,
    positions: new Int32Array(0),
  };
  const read = rowReader(seg, channels);
  const out = new Float32Array(count * channels);
  for (let t = 0; t < count; t++) read(first + t, out.subarray(t * channels, (t + 1) * channels));
  return out;
}
