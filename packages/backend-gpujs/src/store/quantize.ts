import {
  type ChannelBlockLayout,
  codeBytes,
  groupCount,
  META_BYTES,
  maxQ,
  SkvqError,
  type StoreQuantizeBlockInputs,
  type StoreQuantizeTokensInputs,
  type StoreRows,
  type StoreView,
  type TokenGroupLayout,
} from '@skvq/core';
import {
  assertFinite,
  fp16Table,
  packCodes,
  quantizeValue,
  quantParams,
  validateChannelBlockLayout,
  validateTokenGroupLayout,
} from '@skvq/formats';
import type { KernelResult } from '../context.js';
import { planFor, type UnitPlan, writeParams } from '../quantize.js';
import { codesSource, minMaxSource } from '../sources/quantize.js';
import { PACK_CODES_SOURCE, rowFlagsSource, STORE_ROWS_SOURCE } from '../sources/store-quantize.js';
import { ownView } from './buffer.js';
import { deviceTables } from './device-tables.js';
import type { StoreOps } from './storage.js';

const pow2Ceil = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** Where the rows to quantize are, and how to get one of them to the host if needed. */
interface Source {
  texture: KernelResult;
  /** Row t as float32 on the host (flagged rows only). */
  row(t: number): Float32Array;
  /** Frees what this call uploaded. */
  done(): void;
}

function hostSource(
  ops: StoreOps,
  x: Float32Array,
  rows: number,
  padRows: number,
  C: number,
): Source {
  const xPad = new Float32Array(padRows * C);
  xPad.set(x.subarray(0, rows * C));
  const texture = ops.upload(xPad);
  return {
    texture,
    row: (t) => x.subarray(t * C, (t + 1) * C),
    done: () => ops.ctx.free(texture),
  };
}

/** Rows already in the store: turned into float values on the device, nothing uploaded. */
function storeSource(
  ops: StoreOps,
  owner: object,
  x: StoreRows,
  rows: number,
  padRows: number,
  C: number,
  where: string,
): Source {
  if (x.precision !== 'fp32' && x.precision !== 'fp16') {
    throw new SkvqError('INVALID_ARGUMENT', `${where}: x.precision must be 'fp32' or 'fp16'`);
  }
  const buffer = ownView(owner, x.view, `${where}: x.view`);
  const size = x.precision === 'fp32' ? 4 : 2;
  if (x.view.byteLength < rows * C * size) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: x.view holds ${x.view.byteLength} bytes; ${rows} rows of ${C} ${x.precision} need ${rows * C * size}`,
    );
  }
  const n = padRows * C;
  const texture = ops.ctx.run(
    {
      key: `store-rows:${pow2Ceil(n)}`,
      source: STORE_ROWS_SOURCE,
      output: [pow2Ceil(n)],
      constants: {},
      pipeline: true,
      immutable: true,
      packed: true,
    },
    [buffer.texture, deviceTables(ops).dec, x.view.byteOffset, rows * C, size === 4 ? 0 : 1],
  );
  return {
    texture,
    row(t) {
      const bytes = ops.read(buffer, x.view.byteOffset + t * C * size, C * size);
      if (size === 4) return new Float32Array(bytes.buffer, 0, C);
      const fp16 = new Uint16Array(bytes.buffer, 0, C);
      const table = fp16Table();
      return Float32Array.from(fp16, (h) => table[h] as number);
    },
    done: () => ops.ctx.free(texture),
  };
}

/**
 * Quantize into the store, bit exact with the reference (quantize.ts explains the split):
 * min/max on the device, read back (one pair per unit); the stored scale/zero on the host
 * with the reference's quantParams, written to the metadata view; every code on the device,
 * merged into the codes view by a kernel (the codes never leave the device); one flag per
 * row read back, and only flagged rows (a value within QUANT_BOUNDARY_MARGIN of a rounding
 * boundary) are recomputed on the host, from x (host rows) or from the row read back out
 * of the store, and written over the device's codes.
 */
function quantizeIntoStore(
  ops: StoreOps,
  owner: object,
  plan: UnitPlan,
  x: Float32Array | StoreRows,
  codes: StoreView,
  meta: StoreView,
  metaValues: number,
  metaFormat: TokenGroupLayout['meta'],
  where: string,
): void {
  const ctx = ops.ctx;
  const C = plan.channels;
  const rowBytes = codeBytes(plan.bits, C);
  const codesBuffer = ownView(owner, codes, `${where}: codes`);
  const metaBuffer = ownView(owner, meta, `${where}: meta`);
  if (
    codes.byteLength < plan.codeRows * rowBytes ||
    meta.byteLength < metaValues * META_BYTES[metaFormat]
  ) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: ${plan.codeRows} rows need ${plan.codeRows * rowBytes} code bytes and ${metaValues * META_BYTES[metaFormat]} metadata bytes; the views hold ${codes.byteLength} and ${meta.byteLength}`,
    );
  }
  const codeRowsPad = pow2Ceil(plan.codeRows);
  const padRows = Math.max(codeRowsPad, pow2Ceil(plan.statRows));
  let source: Source;
  if (x instanceof Float32Array) {
    assertFinite(x, 0, plan.codeRows * C, where);
    source = hostSource(ops, x, plan.codeRows, padRows, C);
  } else {
    source = storeSource(ops, owner, x, plan.codeRows, padRows, C, where);
  }
  try {
    const tables = deviceTables(ops);
    const idx = tables.constant(plan.idx);
    const starts = tables.constant(plan.starts);
    const elem = tables.constant(plan.elem);
    const statRowsPad = pow2Ceil(plan.statRows);
    const stats = ctx.readResult(
      ctx.run(
        {
          key: `minmax:${plan.statStride}/${plan.maxLength}/${plan.units}/${statRowsPad}`,
          source: minMaxSource(plan.statStride, plan.maxLength),
          output: [2 * plan.units, statRowsPad],
          constants: {},
          loopMax: plan.maxLength,
        },
        [source.texture, idx, starts],
      ),
      2 * plan.units * statRowsPad,
    );
    const params = new Float32Array(Math.max(1, plan.statRows * 2 * plan.units));
    for (let r = 0; r < plan.statRows; r++) {
      for (let u = 0; u < plan.units; u++) {
        const o = (r * plan.units + u) * 2;
        const lo = stats[o] as number;
        const hi = stats[o + 1] as number;
        if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
          throw new SkvqError(
            'INVALID_ARGUMENT',
            `${where}: row ${r} holds a NaN or infinite value (allowed: finite values)`,
          );
        }
        const { scale, zero } = quantParams(lo, hi, plan.alpha, plan.bits, plan.meta);
        params[o] = scale;
        params[o + 1] = zero;
      }
    }
    const margin = ctx.quantBoundaryMargin;
    const packed = ctx.run(
      {
        key: `store-codes:${plan.bits}/${C}/${plan.paramStride}/${margin}/${codeRowsPad}`,
        source: codesSource({
          bits: plan.bits,
          channels: C,
          maxq: maxQ(plan.bits),
          rowStride: C,
          paramStride: plan.paramStride,
          margin,
        }),
        output: [rowBytes, codeRowsPad],
        constants: {},
        loopMax: 8,
        pipeline: true,
      },
      [source.texture, elem, params],
    );
    const flags = ctx.readResult(
      ctx.run(
        {
          key: `store-flags:${rowBytes}/${codeRowsPad}`,
          source: rowFlagsSource(rowBytes),
          output: [codeRowsPad],
          constants: {},
          loopMax: rowBytes,
          packed: true,
        },
        [packed],
      ),
      codeRowsPad,
    );
    // Nothing was written before this point: range and finiteness errors leave the store as it was.
    const metaBytes = new Uint8Array(metaValues * META_BYTES[metaFormat]);
    writeParams(metaFormat, metaBytes, 0, params, metaValues);
    ops.write(metaBuffer, meta.byteOffset, metaBytes);
    const b0 = codes.byteOffset;
    ops.replace(
      codesBuffer,
      ctx.run(ops.bufferSpec('store-pack-codes', PACK_CODES_SOURCE, codesBuffer.capacity), [
        codesBuffer.texture,
        packed,
        b0,
        b0 + plan.codeRows * rowBytes,
        rowBytes,
      ]),
    );
    const scratch = new Uint8Array(C);
    const rowOut = new Uint8Array(rowBytes);
    for (let t = 0; t < plan.codeRows; t++) {
      if ((flags[t] as number) < 0.5) continue;
      ctx.exactRowRecomputes++;
      exactRowOf(plan, source.row(t), t, params, scratch, rowOut);
      ops.write(codesBuffer, b0 + t * rowBytes, rowOut);
    }
  } finally {
    source.done();
  }
}

/** Row t's codes with the reference arithmetic, from that row's values alone. */
function exactRowOf(
  plan: UnitPlan,
  xRow: Float32Array,
  t: number,
  params: Float32Array,
  scratch: Uint8Array,
  out: Uint8Array,
): void {
  const maxq = maxQ(plan.bits);
  for (let j = 0; j < plan.channels; j++) {
    const po = t * plan.paramStride + 2 * (plan.elem[2 * j + 1] as number);
    scratch[j] = quantizeValue(
      xRow[plan.elem[2 * j] as number] as number,
      params[po] as number,
      params[po + 1] as number,
      maxq,
    );
  }
  packCodes(plan.bits, scratch, out, 0);
}

export function quantizeTokensStore(
  ops: StoreOps,
  owner: object,
  inputs: StoreQuantizeTokensInputs,
): void {
  const where = 'gpujs store quantizeTokens';
  const { layout, x, count, codes, meta } = inputs;
  validateTokenGroupLayout(layout as TokenGroupLayout, where);
  if (!Number.isInteger(count) || count < 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: count ${String(count)} must be a non-negative integer`,
    );
  }
  if (x instanceof Float32Array && x.length < count * layout.channels) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: x holds ${x.length} values; ${count} rows of ${layout.channels} need ${count * layout.channels}`,
    );
  }
  if (count === 0) return;
  const plan: UnitPlan = { ...planFor(layout), statRows: count, codeRows: count };
  const metaValues = count * 2 * groupCount(layout);
  quantizeIntoStore(ops, owner, plan, x, codes, meta, metaValues, layout.meta, where);
}

export function quantizeBlockStore(
  ops: StoreOps,
  owner: object,
  inputs: StoreQuantizeBlockInputs,
): void {
  const where = 'gpujs store quantizeBlock';
  const { layout, x, codes, meta } = inputs;
  validateChannelBlockLayout(layout as ChannelBlockLayout, where);
  const C = layout.channels;
  const T = layout.blockTokens;
  if (x instanceof Float32Array && x.length < T * C) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: x holds ${x.length} values; a block of ${T} rows of ${C} needs ${T * C}`,
    );
  }
  const plan: UnitPlan = { ...planFor(layout), statRows: 1, codeRows: T };
  quantizeIntoStore(ops, owner, plan, x, codes, meta, 2 * C, layout.meta, where);
}
