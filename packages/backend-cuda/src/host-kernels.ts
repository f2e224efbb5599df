import {
  type AttendInputs,
  type AttentionAttrs,
  type DequantizeInputs,
  decodeAndPrefill,
  type Kernels,
  type KvGeometry,
  type KvSegment,
  kvHidden,
  metaBytesPerUnit,
  type QuantizeBlockInputs,
  type QuantizeTokensInputs,
  type QuantLayout,
  queryHidden,
  rowCodeBytes,
  SkvqError,
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
import type { CudaDevice, DeviceBuffer } from './device.js';
import { DeviceLayout } from './device-layout.js';
import { throwKernelErrors } from './errors.js';
import { enqueueDequantize, enqueueQuantizeBlock, enqueueQuantizeTokens } from './quantize-ops.js';
import { buildLocations, type DeviceSegment, SegmentTable } from './segments.js';

/** Collects device resources of one host-array call and frees them all at the end. */
class Scope {
  private readonly items: { dispose(): void }[] = [];
  constructor(readonly device: CudaDevice) {}
  keep<T extends { dispose(): void }>(item: T): T {
    this.items.push(item);
    return item;
  }
  upload(data: ArrayBufferView): DeviceBuffer {
    return this.keep(this.device.upload(data));
  }
  alloc(bytes: number): DeviceBuffer {
    return this.keep(this.device.alloc(bytes));
  }
  dispose(): void {
    for (const item of this.items.reverse()) item.dispose();
  }
}

function withScope<T>(device: CudaDevice, body: (scope: Scope) => T): T {
  const scope = new Scope(device);
  try {
    return body(scope);
  } finally {
    scope.dispose();
  }
}

function finishQuantize(device: CudaDevice, errorWord: DeviceBuffer, where: string): void {
  device.synchronize();
  throwKernelErrors(errorWord.download(new Uint32Array(1))[0]!, where);
}

/** Tokens of a channel-block page share one metadata unit per blockTokens. */
function metaUnits(layout: QuantLayout, tokens: number): number {
  return layout.kind === 'channel-block' ? Math.ceil(tokens / layout.blockTokens) : tokens;
}

function checkSegment(segment: KvSegment, channels: number, where: string): void {
  if (segment.kind === 'fp') {
    const wanted = segment.precision === 'fp32' ? Float32Array : Uint16Array;
    if (!(segment.data instanceof wanted)) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `${where}: an ${segment.precision} segment needs a ${wanted.name}`,
      );
    }
    assertSpan(
      segment.data.length,
      0,
      segment.count * channels,
      'fp segment data',
      where,
      'SHAPE_MISMATCH',
    );
    return;
  }
  validateLayout(segment.layout, where);
  if (segment.layout.channels !== channels) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: a packed segment has ${segment.layout.channels} channels; the geometry has ${channels} (kvHeads * headDim)`,
    );
  }
  if (segment.layout.kind === 'channel-block' && segment.count % segment.layout.blockTokens !== 0) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: a channel-block segment holds ${segment.count} tokens; expected a multiple of ${segment.layout.blockTokens}`,
    );
  }
  assertSpan(segment.codes.length, 0, segment.count * rowCodeBytes(segment.layout), 'codes', where);
  assertSpan(
    segment.meta.length,
    0,
    metaUnits(segment.layout, segment.count) * metaBytesPerUnit(segment.layout),
    'meta',
    where,
  );
}

/** Uploads one stream's segments and builds its descriptor table. */
function uploadStream(
  scope: Scope,
  segments: readonly KvSegment[],
  channels: number,
  length: number,
  where: string,
): SegmentTable {
  const layouts = new Map<QuantLayout, DeviceLayout>();
  const device: DeviceSegment[] = segments.map((segment) => {
    checkSegment(segment, channels, where);
    if (segment.kind === 'fp') {
      return {
        kind: segment.precision,
        data: scope.upload(segment.data.subarray(0, segment.count * channels)),
      };
    }
    let layout = layouts.get(segment.layout);
    if (!layout) {
      layout = scope.keep(new DeviceLayout(scope.device, segment.layout));
      layouts.set(segment.layout, layout);
    }
    const rows = segment.count * rowCodeBytes(segment.layout);
    const metaBytes = metaUnits(segment.layout, segment.count) * metaBytesPerUnit(segment.layout);
    return {
      kind: 'packed',
      layout,
      codes: scope.upload(segment.codes.subarray(0, rows)),
      meta: scope.upload(segment.meta.subarray(0, metaBytes)),
    };
  });
  const locations = buildLocations(
    segments.map((s) => s.positions),
    segments.map((s) => s.count),
    length,
    where,
  );
  return scope.keep(new SegmentTable(scope.device, device, locations));
}

function runAttention(
  device: CudaDevice,
  inputs: {
    q: Float32Array;
    keys: readonly KvSegment[];
    values: readonly KvSegment[];
    length: number;
    attentionSums?: Float32Array;
  },
  attrs: AttentionAttrs,
  numQueries: number,
  start: number,
  causal: boolean,
  where: string,
): Float32Array {
  const geometry: KvGeometry = validateGeometry(attrs.geometry, `${where} geometry`);
  assertPositiveInt(inputs.length, 'length', where);
  const hidden = queryHidden(geometry);
  assertSpan(inputs.q.length, 0, numQueries * hidden, 'q', where, 'SHAPE_MISMATCH');
  if (causal && start + numQueries > inputs.length) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: queries ${start}..${start + numQueries - 1} need their own keys cached; length is ${inputs.length}`,
    );
  }
  if (inputs.attentionSums) {
    assertSpan(
      inputs.attentionSums.length,
      0,
      inputs.length,
      'attentionSums',
      where,
      'SHAPE_MISMATCH',
    );
  }
  const channels = kvHidden(geometry);
  return withScope(device, (scope) => {
    const keys = uploadStream(scope, inputs.keys, channels, inputs.length, `${where} keys`);
    const values = uploadStream(scope, inputs.values, channels, inputs.length, `${where} values`);
    const runner = scope.keep(
      new AttentionRunner(device, geometry, attrs, {
        maxQueries: numQueries,
        maxLength: inputs.length,
        withSums: inputs.attentionSums !== undefined,
      }),
    );
    const q = scope.upload(rotateQueries(inputs.q, numQueries, start, geometry));
    runner.enqueue({ q, numQueries, start, causal, length: inputs.length, keys, values });
    const out = runner.finish(numQueries);
    if (inputs.attentionSums) {
      const sums = runner.readSums(inputs.length);
      for (let p = 0; p < inputs.length; p++) inputs.attentionSums[p]! += sums[p]!;
    }
    return out;
  });
}

/**
 * The Kernels contract (core/src/kernels.ts) on host arrays: each call uploads its inputs,
 * runs the CUDA kernels and downloads the result. `device()` gives the initialised device.
 */
export function createHostKernels(device: () => CudaDevice): Kernels {
  /** The one attention job: decode (one non-causal row) and prefill (causal rows) alike. */
  const attendJob = (job: AttendInputs, attrs: AttentionAttrs): Float32Array => {
    const where = 'cuda attend';
    if (!Number.isInteger(job.start) || job.start < 0) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `${where}: start ${job.start} must be a non-negative integer`,
      );
    }
    assertPositiveInt(job.rows, 'rows', where);
    if (!job.causal && job.rows !== 1) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `${where}: a non-causal (decode) job has 1 query row, got ${job.rows}`,
      );
    }
    return runAttention(device(), job, attrs, job.rows, job.start, job.causal, where);
  };
  return {
    quantizeTokens(inputs: QuantizeTokensInputs): void {
      const where = 'cuda quantizeTokens';
      const { layout, count } = inputs;
      validateTokenGroupLayout(layout, where);
      if (!Number.isInteger(count) || count < 0) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `${where}: count ${count} must be a non-negative integer`,
        );
      }
      const rowBytes = rowCodeBytes(layout);
      const metaBytes = metaBytesPerUnit(layout);
      assertSpan(
        inputs.x.length,
        0,
        count * layout.channels,
        'x ([count, channels])',
        where,
        'SHAPE_MISMATCH',
      );
      assertSpan(inputs.codes.length, inputs.codesOffset, count * rowBytes, 'codes', where);
      assertSpan(inputs.meta.length, inputs.metaOffset, count * metaBytes, 'meta', where);
      assertFinite(inputs.x, 0, count * layout.channels, where);
      if (count === 0) return;
      withScope(device(), (scope) => {
        const dl = scope.keep(new DeviceLayout(scope.device, layout));
        const x = scope.upload(inputs.x.subarray(0, count * layout.channels));
        const codes = scope.alloc(count * rowBytes);
        const meta = scope.alloc(count * metaBytes);
        const err = scope.alloc(4).fill(0);
        enqueueQuantizeTokens(scope.device, dl, x, count, codes, 0, meta, 0, err);
        finishQuantize(scope.device, err, where);
        codes.download(
          inputs.codes.subarray(inputs.codesOffset, inputs.codesOffset + count * rowBytes),
        );
        meta.download(
          inputs.meta.subarray(inputs.metaOffset, inputs.metaOffset + count * metaBytes),
        );
      });
    },

    quantizeBlock(inputs: QuantizeBlockInputs): void {
      const where = 'cuda quantizeBlock';
      const { layout } = inputs;
      validateChannelBlockLayout(layout, where);
      const { channels, blockTokens } = layout;
      const codeBytes = blockTokens * rowCodeBytes(layout);
      const metaBytes = metaBytesPerUnit(layout);
      assertSpan(inputs.x.length, 0, blockTokens * channels, 'x', where, 'SHAPE_MISMATCH');
      assertSpan(inputs.codes.length, inputs.codesOffset, codeBytes, 'codes', where);
      assertSpan(inputs.meta.length, inputs.metaOffset, metaBytes, 'meta', where);
      assertFinite(inputs.x, 0, blockTokens * channels, where);
      withScope(device(), (scope) => {
        const dl = scope.keep(new DeviceLayout(scope.device, layout));
        const x = scope.upload(inputs.x.subarray(0, blockTokens * channels));
        const scratch = scope.alloc(blockTokens * channels);
        const codes = scope.alloc(codeBytes);
        const meta = scope.alloc(metaBytes);
        const err = scope.alloc(4).fill(0);
        enqueueQuantizeBlock(scope.device, dl, x, scratch, codes, 0, meta, 0, err);
        finishQuantize(scope.device, err, where);
        codes.download(inputs.codes.subarray(inputs.codesOffset, inputs.codesOffset + codeBytes));
        meta.download(inputs.meta.subarray(inputs.metaOffset, inputs.metaOffset + metaBytes));
      });
    },

    dequantize(inputs: DequantizeInputs): Float32Array {
      const where = 'cuda dequantize';
      const { layout, first, count } = inputs;
      validateLayout(layout, where);
      if (!Number.isInteger(first) || first < 0 || !Number.isInteger(count) || count < 0) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `${where}: first ${first} and count ${count} must be non-negative integers`,
        );
      }
      const end = first + count;
      assertSpan(inputs.codes.length, 0, end * rowCodeBytes(layout), 'codes', where);
      assertSpan(
        inputs.meta.length,
        0,
        metaUnits(layout, end) * metaBytesPerUnit(layout),
        'meta',
        where,
      );
      const out = new Float32Array(count * layout.channels);
      if (count === 0) return out;
      return withScope(device(), (scope) => {
        const dl = scope.keep(new DeviceLayout(scope.device, layout));
        const codes = scope.upload(inputs.codes.subarray(0, end * rowCodeBytes(layout)));
        const meta = scope.upload(
          inputs.meta.subarray(0, metaUnits(layout, end) * metaBytesPerUnit(layout)),
        );
        const result = scope.alloc(out.byteLength);
        const err = scope.alloc(4).fill(0);
        enqueueDequantize(scope.device, dl, codes, meta, first, count, result, err);
        finishQuantize(scope.device, err, where);
        return result.download(out);
      });
    },

    attend: attendJob,
    ...decodeAndPrefill(attendJob),
  };
}
