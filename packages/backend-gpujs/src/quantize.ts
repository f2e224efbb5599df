import {
  type BitWidth,
  type ChannelBlockLayout,
  codeBytes,
  groupCount,
  META_BYTES,
  type MetaFormat,
  maxQ,
  type QuantizeBlockInputs,
  type QuantizeTokensInputs,
  type QuantLayout,
  rowCodeBytes,
  SkvqError,
  type TokenGroupLayout,
} from '@skvq/core';
import {
  assertFinite,
  assertSpan,
  layoutPlan,
  packCodes,
  quantizeValue,
  quantParams,
  validateChannelBlockLayout,
  validateTokenGroupLayout,
  writeMeta,
} from '@skvq/formats';
import { flatten, type GpujsContext } from './context.js';
import { codesSource, minMaxSource } from './sources/quantize.js';

/**
 * Quantize-and-append on gpu.js, bit exact with the reference quantizers:
 * 1. a device kernel takes each unit's min and max (a token's group, or a channel down a
 *    block): exact on every device;
 * 2. the host turns them into the stored scale and zero with the reference's own
 *    quantParams (one pair per unit: 1/groupSize of the work, and the metadata rounding
 *    to fp16/fp8 stays in one place);
 * 3. a device kernel computes and packs every code and flags values within
 *    QUANT_BOUNDARY_MARGIN of a rounding boundary, where WebGL's 2.5-ulp division could
 *    land on the other side; the host recomputes only the flagged rows exactly.
 * Nothing is written until every check passed (NaN/Inf, metadata range).
 */

/** How the units and elements of one quantize call are laid out for the kernels. */
export interface UnitPlan {
  bits: BitWidth;
  meta: MetaFormat;
  alpha: number;
  channels: number;
  /** Rows the min/max kernel produces (tokens, or 1 for a block). */
  statRows: number;
  /** Row stride of x in the min/max kernel (channels, or 0 for a block's single stat row). */
  statStride: number;
  units: number;
  /** Element offsets of every unit, concatenated; unit u is idx[starts[u] .. starts[u+1]). */
  idx: Float32Array;
  starts: Float32Array;
  maxLength: number;
  /** Per storage position j: [original channel, unit]. */
  elem: Float32Array;
  /** Rows of codes (tokens of the call or of the block). */
  codeRows: number;
  /** Params per code row (2 * units) or 0 when the block shares them. */
  paramStride: number;
}

const plans = new WeakMap<QuantLayout, Omit<UnitPlan, 'statRows' | 'codeRows'>>();

export function planFor(layout: QuantLayout): Omit<UnitPlan, 'statRows' | 'codeRows'> {
  const cached = plans.get(layout);
  if (cached !== undefined) return cached;
  const C = layout.channels;
  const elem = new Float32Array(2 * C);
  let plan: Omit<UnitPlan, 'statRows' | 'codeRows'>;
  if (layout.kind === 'token-group') {
    const G = groupCount(layout);
    const { channelOf, pairOf } = layoutPlan(layout);
    const idx = Float32Array.from(channelOf);
    let maxLength = 1;
    for (let g = 0; g < G; g++) {
      maxLength = Math.max(maxLength, layout.groupOffsets[g + 1]! - layout.groupOffsets[g]!);
    }
    for (let j = 0; j < C; j++) {
      elem[2 * j] = channelOf[j]!;
      elem[2 * j + 1] = pairOf[j]!;
    }
    plan = {
      bits: layout.bits,
      meta: layout.meta,
      alpha: layout.alpha,
      channels: C,
      statStride: C,
      units: G,
      idx,
      starts: Float32Array.from(layout.groupOffsets),
      maxLength,
      elem,
      paramStride: 2 * G,
    };
  } else {
    const T = layout.blockTokens;
    const idx = new Float32Array(C * T);
    const starts = new Float32Array(C + 1);
    for (let c = 0; c < C; c++) {
      starts[c] = c * T;
      for (let t = 0; t < T; t++) idx[c * T + t] = t * C + c;
      elem[2 * c] = c;
      elem[2 * c + 1] = c;
    }
    starts[C] = C * T;
    plan = {
      bits: layout.bits,
      meta: layout.meta,
      alpha: layout.alpha,
      channels: C,
      statStride: 0,
      units: C,
      idx,
      starts,
      maxLength: T,
      elem,
      paramStride: 0,
    };
  }
  plans.set(layout, plan);
  return plan;
}

const pow2Ceil = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** Runs both kernels; returns packed rows [codeRows, rowBytes] and the stored params. */
function quantizeOnDevice(
  ctx: GpujsContext,
  plan: UnitPlan,
  x: Float32Array,
  margin: number,
): { codes: Uint8Array; params: Float32Array } {
  const C = plan.channels;
  const maxq = maxQ(plan.bits);
  const rowBytes = codeBytes(plan.bits, C);
  // Outputs are fixed per compiled kernel: pad the rows to a power of two (zeros).
  const codeRowsPad = pow2Ceil(plan.codeRows);
  const statRowsPad = pow2Ceil(plan.statRows);
  const xPad = new Float32Array(Math.max(codeRowsPad, statRowsPad) * C);
  xPad.set(x.subarray(0, plan.codeRows * C));
  const stats = flatten(
    ctx.run(
      {
        key: `minmax:${plan.statStride}/${plan.maxLength}/${plan.units}/${statRowsPad}`,
        source: minMaxSource(plan.statStride, plan.maxLength),
        output: [2 * plan.units, statRowsPad],
        constants: {},
        loopMax: plan.maxLength,
      },
      [xPad, plan.idx, plan.starts],
    ),
    2 * plan.units * statRowsPad,
  );
  // Stored scale/zero per unit with the reference's arithmetic; throws (metadata range)
  // before anything is written.
  const params = new Float32Array(Math.max(1, plan.statRows * 2 * plan.units));
  for (let r = 0; r < plan.statRows; r++) {
    for (let u = 0; u < plan.units; u++) {
      const o = (r * plan.units + u) * 2;
      const { scale, zero } = quantParams(
        stats[o] as number,
        stats[o + 1] as number,
        plan.alpha,
        plan.bits,
        plan.meta,
      );
      params[o] = scale;
      params[o + 1] = zero;
    }
  }
  const packed = flatten(
    ctx.run(
      {
        key: `codes:${plan.bits}/${C}/${plan.paramStride}/${margin}/${codeRowsPad}`,
        source: codesSource({
          bits: plan.bits,
          channels: C,
          maxq,
          rowStride: C,
          paramStride: plan.paramStride,
          margin,
        }),
        output: [rowBytes, codeRowsPad],
        constants: {},
        loopMax: 8,
      },
      [xPad, plan.elem, params],
    ),
    rowBytes * codeRowsPad,
  );
  const codes = new Uint8Array(plan.codeRows * rowBytes);
  const scratch = new Uint8Array(C);
  for (let t = 0; t < plan.codeRows; t++) {
    let flagged = false;
    for (let b = 0; b < rowBytes; b++) {
      const v = packed[t * rowBytes + b] as number;
      if (v >= 256) flagged = true;
      codes[t * rowBytes + b] = v % 256;
    }
    if (flagged) {
      ctx.exactRowRecomputes++;
      exactRow(plan, x, t, params, scratch, codes.subarray(t * rowBytes, (t + 1) * rowBytes));
    }
  }
  return { codes, params };
}

/** Recomputes one row's codes on the host with the reference arithmetic (flagged rows). */
function exactRow(
  plan: UnitPlan,
  x: Float32Array,
  t: number,
  params: Float32Array,
  scratch: Uint8Array,
  out: Uint8Array,
): void {
  const C = plan.channels;
  const maxq = maxQ(plan.bits);
  for (let j = 0; j < C; j++) {
    const ch = plan.elem[2 * j] as number;
    const po = t * plan.paramStride + 2 * (plan.elem[2 * j + 1] as number);
    scratch[j] = quantizeValue(
      x[t * C + ch] as number,
      params[po] as number,
      params[po + 1] as number,
      maxq,
    );
  }
  packCodes(plan.bits, scratch, out, 0);
}

export function writeParams(
  meta: MetaFormat,
  out: Uint8Array,
  offset: number,
  params: Float32Array,
  n: number,
) {
  const size = META_BYTES[meta];
  for (let i = 0; i < n; i++) writeMeta(meta, out, offset + i * size, params[i] as number);
}

export function quantizeTokensGpujs(ctx: GpujsContext, inputs: QuantizeTokensInputs): void {
  const where = 'gpujs quantizeTokens';
  const { layout, x, count, codes, codesOffset, meta, metaOffset } = inputs;
  validateTokenGroupLayout(layout as TokenGroupLayout, where);
  if (!Number.isInteger(count) || count < 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: count ${String(count)} must be a non-negative integer`,
    );
  }
  const C = layout.channels;
  const rowBytes = rowCodeBytes(layout);
  const metaUnit = 2 * groupCount(layout) * META_BYTES[layout.meta];
  assertSpan(x.length, 0, count * C, 'x ([count, channels])', where, 'SHAPE_MISMATCH');
  assertSpan(codes.length, codesOffset, count * rowBytes, 'codes', where);
  assertSpan(meta.length, metaOffset, count * metaUnit, 'meta', where);
  assertFinite(x, 0, count * C, where);
  if (count === 0) return;
  const plan: UnitPlan = { ...planFor(layout), statRows: count, codeRows: count };
  const result = quantizeOnDevice(ctx, plan, x, ctx.quantBoundaryMargin);
  codes.set(result.codes, codesOffset);
  writeParams(layout.meta, meta, metaOffset, result.params, count * 2 * groupCount(layout));
}

export function quantizeBlockGpujs(ctx: GpujsContext, inputs: QuantizeBlockInputs): void {
  const where = 'gpujs quantizeBlock';
  const { layout, x, codes, codesOffset, meta, metaOffset } = inputs;
  validateChannelBlockLayout(layout as ChannelBlockLayout, where);
  const C = layout.channels;
  const T = layout.blockTokens;
  const rowBytes = rowCodeBytes(layout);
  assertSpan(x.length, 0, T * C, 'x ([blockTokens, channels])', where, 'SHAPE_MISMATCH');
  assertSpan(codes.length, codesOffset, T * rowBytes, 'codes', where);
  assertSpan(meta.length, metaOffset, 2 * C * META_BYTES[layout.meta], 'meta', where);
  assertFinite(x, 0, T * C, where);
  const plan: UnitPlan = { ...planFor(layout), statRows: 1, codeRows: T };
  const result = quantizeOnDevice(ctx, plan, x, ctx.quantBoundaryMargin);
  codes.set(result.codes, codesOffset);
  writeParams(layout.meta, meta, metaOffset, result.params, 2 * C);
}
