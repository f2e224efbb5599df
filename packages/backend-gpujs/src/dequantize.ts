import {
  type DequantizeInputs,
  metaBytesPerUnit,
  type PackedSegment,
  rowCodeBytes,
  SkvqError,
  tokensPerMetaUnit,
} from '@skvq/core';
import { checkDequantizeInputs, validateLayout } from '@skvq/formats';
import { MAX_SLICE_FLOATS } from './constants.js';
import { flatten, type GpujsContext } from './context.js';
import { dequantizeSource } from './sources/dequantize.js';
import { buildSlice } from './stream-slice.js';

/**
 * Reconstructs rows first .. first+count-1 of a page (inspection and tests; attention never
 * calls it). The same row reader as attention, so this kernel also checks that reader bit
 * for bit against the reference (dequantization is exact: two float32 roundings).
 */
export function dequantizeGpujs(ctx: GpujsContext, inputs: DequantizeInputs): Float32Array {
  const where = 'gpujs dequantize';
  checkDequantizeInputs(inputs, where);
  const { layout, codes, meta, first, count } = inputs;
  validateLayout(layout, where);
  const rows = first + count;
  const unit = tokensPerMetaUnit(layout);
  const metaNeeded = Math.ceil(rows / unit) * metaBytesPerUnit(layout);
  if (codes.length < rows * rowCodeBytes(layout) || meta.length < metaNeeded) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: rows ${first}..${rows - 1} need ${rows * rowCodeBytes(layout)} code bytes and ${metaNeeded} metadata bytes; got ${codes.length} and ${meta.length}`,
    );
  }
  const C = layout.channels;
  const out = new Float32Array(count * C);
  if (count === 0) return out;
  const seg: PackedSegment = {
    kind: 'packed',
    count: rows,
    layout,
    codes,
    meta,
    positions: new Int32Array(0),
  };
  const perPass = Math.max(
    1,
    Math.min(ctx.maxSliceTokens, 2 ** Math.floor(Math.log2(MAX_SLICE_FLOATS / (3 * C)))),
  );
  for (let done = 0; done < count; done += perPass) {
    const n = Math.min(perPass, count - done);
    const tokens = 2 ** Math.ceil(Math.log2(n));
    const rowOf = new Int32Array(n);
    for (let t = 0; t < n; t++) rowOf[t] = first + done + t;
    const slice = buildSlice({ segments: [seg], segOf: new Int32Array(n), rowOf }, 0, n, tokens, C);
    const result = ctx.run(
      {
        key: `dequantize:${C}/${tokens}`,
        source: dequantizeSource(),
        output: [C, tokens],
        constants: {},
      },
      [slice.info, slice.data],
    );
    out.set(flatten(result, C * tokens).subarray(0, n * C), done * C);
  }
  return out;
}
