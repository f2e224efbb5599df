import {
  type AttentionAttrs,
  type KvGeometry,
  kvHidden,
  metaBytesPerUnit,
  type QuantLayout,
  queryHidden,
  rowCodeBytes,
  SkvqError,
  type StoreAttendInputs,
  type StoreKernels,
  type StoreQuantizeBlockInputs,
  type StoreQuantizeTokensInputs,
  type StoreRows,
  type StoreSegment,
  validateGeometry,
} from '@skvq/core';
import {
  assertFinite,
  assertPositiveInt,
  assertSpan,
  validateChannelBlockLayout,
  validateLayout,
  validateTokenGroupLayout,
} from '@skvq/formats';
import { AttentionRunner, rotateQueries } from './attention.js';
import type { CudaStoreContext } from './cuda-storage.js';
import { throwKernelErrors } from './errors.js';
import type { DevicePointer } from './params.js';
import { enqueueHalfToFloat, enqueueQuantizeBlock, enqueueQuantizeTokens } from './quantize-ops.js';
import { buildLocations, type DeviceSegment, packSegmentDescriptors } from './segments.js';
import type { CudaStoreState } from './store-state.js';
import { precisionBytes, resolveRows, resolveView } from './store-views.js';

/** Metadata units of `tokens` tokens: one per token, or one per block of a channel-block page. */
export function storeMetaUnits(layout: QuantLayout, tokens: number): number {
  return layout.kind === 'channel-block' ? Math.ceil(tokens / layout.blockTokens) : tokens;
}

/**
 * The float32 rows a quantize kernel reads: host rows are uploaded into scratch (a
 * prefill's tokens, counted as a transfer), fp32 store rows are read in place, fp16 store
 * rows are widened on the device into scratch. Nothing of a store crosses to the host.
 */
function floatRows(
  ctx: CudaStoreContext,
  state: CudaStoreState,
  x: Float32Array | StoreRows,
  count: number,
  channels: number,
  where: string,
): DevicePointer {
  const n = count * channels;
  if (x instanceof Float32Array) {
    assertSpan(x.length, 0, n, 'x ([count, channels])', where, 'SHAPE_MISMATCH');
    assertFinite(x, 0, n, where);
    return state.scratchBuffer('x', 4 * n).upload(x.subarray(0, n));
  }
  const rows = resolveRows(ctx.owner, x, count, channels, where);
  if (x.precision === 'fp32') return { ptr: rows.address };
  const widened = state.scratchBuffer('x', 4 * n);
  enqueueHalfToFloat(state.device, { ptr: rows.address }, n, widened);
  return widened;
}

/** Waits for the kernels and throws what their error word reports (4 bytes read back). */
function finishQuantize(state: CudaStoreState, where: string): void {
  state.device.synchronize();
  const word = state.errorWord.download(new Uint32Array(1))[0]!;
  if (word !== 0) {
    state.errorWord.fill(0);
    throwKernelErrors(word, where);
  }
}

/** Checks one store segment and gives its device form (addresses inside store buffers). */
function deviceSegment(
  ctx: CudaStoreContext,
  state: CudaStoreState,
  segment: StoreSegment,
  channels: number,
  where: string,
): DeviceSegment {
  if (!Number.isInteger(segment.count) || segment.count < 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: segment count must be a non-negative integer, got ${String(segment.count)}`,
    );
  }
  if (segment.kind === 'fp') {
    if (segment.precision !== 'fp32' && segment.precision !== 'fp16') {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `${where}: an fp segment's precision must be 'fp32' or 'fp16', got ${String(segment.precision)}`,
      );
    }
    const size = precisionBytes(segment.precision);
    const data = resolveView(
      ctx.owner,
      segment.data,
      segment.count * channels * size,
      size,
      `${segment.precision} segment data`,
      where,
    );
    return { kind: segment.precision, data: { ptr: data.address } };
  }
  if (segment.kind !== 'packed') {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: segment kind must be 'fp' or 'packed', got ${String((segment as { kind: unknown }).kind)}`,
    );
  }
  const { layout } = segment;
  validateLayout(layout, where);
  if (layout.channels !== channels) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: a packed segment has ${layout.channels} channels; the geometry has ${channels} (kvHeads * headDim)`,
    );
  }
  if (layout.kind === 'channel-block' && segment.count % layout.blockTokens !== 0) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: a channel-block segment holds ${segment.count} tokens; expected a multiple of ${layout.blockTokens}`,
    );
  }
  const codes = resolveView(
    ctx.owner,
    segment.codes,
    segment.count * rowCodeBytes(layout),
    1,
    'codes',
    where,
  );
  const meta = resolveView(
    ctx.owner,
    segment.meta,
    storeMetaUnits(layout, segment.count) * metaBytesPerUnit(layout),
    1,
    'meta',
    where,
  );
  return {
    kind: 'packed',
    layout: state.layout(layout),
    codes: { ptr: codes.address },
    meta: { ptr: meta.address },
  };
}

/**
 * The key a stream's resident table is kept under: where its first segment lives. A cache
 * keeps its first segment (sinks, or the first page) in place from step to step, so
 * consecutive steps of one layer find the table of the previous step and upload only what
 * changed. Another first segment only costs one full upload, never a wrong table: the
 * table's contents are always compared with the new ones.
 */
export function streamTableKey(
  stream: 'keys' | 'values',
  segments: readonly StoreSegment[],
): string {
  const first = segments[0];
  if (first === undefined) return `none:${stream}`;
  const view = first.kind === 'fp' ? first.data : first.codes;
  const id = (view.buffer as { id?: number }).id ?? 0;
  return `b${id}@${view.byteOffset}:${stream}`;
}

function residentTable(
  ctx: CudaStoreContext,
  state: CudaStoreState,
  stream: 'keys' | 'values',
  segments: readonly StoreSegment[],
  channels: number,
  length: number,
  where: string,
) {
  const where_ = `${where} ${stream}`;
  const device = segments.map((s) => deviceSegment(ctx, state, s, channels, where_));
  const locations = buildLocations(
    segments.map((s) => s.positions),
    segments.map((s) => s.count),
    length,
    where_,
  );
  return state
    .table(streamTableKey(stream, segments))
    .update(packSegmentDescriptors(device), locations);
}

function attend(
  ctx: CudaStoreContext,
  inputs: StoreAttendInputs,
  attrs: AttentionAttrs,
): Float32Array {
  const where = 'cuda store attend';
  const geometry: KvGeometry = validateGeometry(attrs.geometry, `${where} geometry`);
  const { start, rows, causal, length } = inputs;
  if (!Number.isInteger(start) || start < 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: start ${start} must be a non-negative integer`,
    );
  }
  assertPositiveInt(rows, 'rows', where);
  assertPositiveInt(length, 'length', where);
  if (!causal && rows !== 1) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: a non-causal (decode) job has 1 query row, got ${rows}`,
    );
  }
  if (causal && start + rows > length) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: queries ${start}..${start + rows - 1} need their own keys cached; length is ${length}`,
    );
  }
  const hidden = queryHidden(geometry);
  assertSpan(inputs.q.length, 0, rows * hidden, 'q', where, 'SHAPE_MISMATCH');
  if (inputs.attentionSums) {
    assertSpan(inputs.attentionSums.length, 0, length, 'attentionSums', where, 'SHAPE_MISMATCH');
  }
  const state = ctx.state();
  const channels = kvHidden(geometry);
  const keys = residentTable(ctx, state, 'keys', inputs.keys, channels, length, where);
  const values = residentTable(ctx, state, 'values', inputs.values, channels, length, where);
  // The query is the only per-call upload besides the tables' changed entries.
  const q = state
    .scratchBuffer('q', 4 * rows * hidden)
    .upload(rotateQueries(inputs.q, rows, start, geometry));
  const call = { q, numQueries: rows, start, causal, length, keys, values };
  if (!inputs.attentionSums) {
    const runner = state.runner(geometry, attrs, rows);
    runner.enqueue(call);
    return runner.finish(rows);
  }
  // Heavy-hitter rules: scores of every position are kept, so this runner is sized per call.
  const runner = new AttentionRunner(state.device, geometry, attrs, {
    maxQueries: rows,
    maxLength: length,
    withSums: true,
  });
  try {
    runner.enqueue(call);
    const out = runner.finish(rows);
    const sums = runner.readSums(length);
    for (let p = 0; p < length; p++) inputs.attentionSums[p]! += sums[p]!;
    return out;
  } finally {
    runner.dispose();
  }
}

function quantizeTokens(ctx: CudaStoreContext, inputs: StoreQuantizeTokensInputs): void {
  const where = 'cuda store quantizeTokens';
  const { layout, count } = inputs;
  validateTokenGroupLayout(layout, where);
  if (!Number.isInteger(count) || count < 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: count ${count} must be a non-negative integer`,
    );
  }
  const codes = resolveView(
    ctx.owner,
    inputs.codes,
    count * rowCodeBytes(layout),
    1,
    'codes',
    where,
  );
  const meta = resolveView(
    ctx.owner,
    inputs.meta,
    count * metaBytesPerUnit(layout),
    1,
    'meta',
    where,
  );
  if (count === 0) return;
  const state = ctx.state();
  const x = floatRows(ctx, state, inputs.x, count, layout.channels, where);
  enqueueQuantizeTokens(
    state.device,
    state.layout(layout),
    x,
    count,
    { ptr: codes.address },
    0,
    { ptr: meta.address },
    0,
    state.errorWord,
  );
  finishQuantize(state, where);
}

function quantizeBlock(ctx: CudaStoreContext, inputs: StoreQuantizeBlockInputs): void {
  const where = 'cuda store quantizeBlock';
  const { layout } = inputs;
  validateChannelBlockLayout(layout, where);
  const { channels, blockTokens } = layout;
  const codes = resolveView(
    ctx.owner,
    inputs.codes,
    blockTokens * rowCodeBytes(layout),
    1,
    'codes',
    where,
  );
  const meta = resolveView(ctx.owner, inputs.meta, metaBytesPerUnit(layout), 1, 'meta', where);
  const state = ctx.state();
  const x = floatRows(ctx, state, inputs.x, blockTokens, channels, where);
  enqueueQuantizeBlock(
    state.device,
    state.layout(layout),
    x,
    state.scratchBuffer('codes', blockTokens * channels),
    { ptr: codes.address },
    0,
    { ptr: meta.address },
    0,
    state.errorWord,
  );
  finishQuantize(state, where);
}

/** The store kernels of the CUDA storage: the host kernels' jobs over device views. */
export function createStoreKernels(ctx: CudaStoreContext): StoreKernels {
  return {
    quantizeTokens: (inputs) => quantizeTokens(ctx, inputs),
    quantizeBlock: (inputs) => quantizeBlock(ctx, inputs),
    attend: (inputs, attrs) => attend(ctx, inputs, attrs),
  };
}
