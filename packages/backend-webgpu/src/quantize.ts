import {
  type ChannelBlockLayout,
  groupCount,
  type MetaFormat,
  metaBytesPerUnit,
  type QuantizeBlockInputs,
  type QuantizeTokensInputs,
  rowCodeBytes,
  SkvqError,
  type TokenGroupLayout,
} from '@skvq/core';
import {
  assertFinite,
  assertPositiveInt,
  assertSpan,
  layoutPlan,
  validateChannelBlockLayout,
  validateTokenGroupLayout,
} from '@skvq/formats';
import { destroyAll, type GpuContext } from './gpu-context.js';
import {
  codeWordsPerRow,
  packWgsl,
  paramsWgsl,
  QUANTIZE_UNIFORM_WORDS,
  type QuantizeShape,
  quantizeShape,
  shapeKey,
  type XSource,
} from './wgsl/quantize.js';

/** perm (identity when null) | groupOf | groupOffsets, the `aux` binding of the kernels. */
export function tokenGroupAux(layout: TokenGroupLayout): Uint32Array {
  const C = layout.channels;
  const G = groupCount(layout);
  const { channelOf, pairOf } = layoutPlan(layout);
  const aux = new Uint32Array(2 * C + G + 1);
  aux.set(channelOf, 0);
  aux.set(pairOf, C);
  aux.set(layout.groupOffsets, 2 * C);
  return aux;
}

export function alphaBits(alpha: number): number {
  return new Uint32Array(new Float32Array([alpha]).buffer)[0] as number;
}

export function metaRangeError(where: string, token: number, meta: MetaFormat): SkvqError {
  return new SkvqError(
    'INVALID_ARGUMENT',
    `${where}: a scale or zero of token ${token} is out of the ${meta} range; the activations are too large for this metadata format (use fp16 or fp32 metadata)`,
    { details: { token, format: meta } },
  );
}

/** One quantize job's geometry: what both passes and the staging layout need. */
export interface QuantizeJob {
  shape: QuantizeShape;
  aux: Uint32Array;
  tokens: number;
  alpha: number;
  units: number;
  words: number;
  rowBytes: number;
  metaBytes: number;
}

/**
 * Records the params and pack passes of `job` reading x from `xBuf` (at byte `xOff` for a
 * store source) into a new staging buffer. Returns the buffers it made (staging last);
 * the caller destroys them once its commands are submitted.
 */
export function recordQuantize(
  ctx: GpuContext,
  encoder: GPUCommandEncoder,
  job: QuantizeJob,
  xBuf: GPUBuffer,
  xOff: number,
  /** job.aux already on the device (store kernels keep one per layout); else uploaded. */
  auxOnDevice?: GPUBuffer,
): { made: GPUBuffer[]; staging: GPUBuffer } {
  const { shape, units, words, rowBytes, metaBytes } = job;
  const wg = shape.workgroup;
  const params = ctx.pipeline(shapeKey('q-params', shape), () => paramsWgsl(shape));
  const pack = ctx.pipeline(`${shapeKey('q-pack', shape)}:${rowBytes}:${metaBytes}`, () =>
    packWgsl(shape, rowBytes, metaBytes),
  );
  const words8 = new Uint32Array(QUANTIZE_UNIFORM_WORDS);
  words8.set([job.tokens, alphaBits(job.alpha), units, words, xOff]);
  const uniforms = ctx.uniform(words8);
  const auxBuf = auxOnDevice ?? ctx.storage(job.aux);
  const paramsBuf = ctx.output(units * 16);
  const staging = ctx.output(words * 4);
  ctx.dispatch(encoder, params, [uniforms, xBuf, auxBuf, paramsBuf], [Math.ceil(units / wg)]);
  ctx.dispatch(
    encoder,
    pack,
    [uniforms, xBuf, auxBuf, paramsBuf, staging],
    [Math.ceil(words / wg)],
  );
  const made = [uniforms, paramsBuf, staging];
  if (auxOnDevice === undefined) made.push(auxBuf);
  return { made, staging };
}

/** Runs both passes over host rows and returns the staging bytes. */
async function runQuantize(
  ctx: GpuContext,
  job: QuantizeJob,
  x: Float32Array,
): Promise<Uint8Array> {
  const made: GPUBuffer[] = [ctx.storage(x)];
  try {
    let staging: GPUBuffer | undefined;
    const bytes = await ctx.run(
      (encoder) => {
        const rec = recordQuantize(ctx, encoder, job, made[0] as GPUBuffer, 0);
        made.push(...rec.made);
        staging = rec.staging;
      },
      () => staging as GPUBuffer,
      job.words * 4,
    );
    return new Uint8Array(bytes);
  } finally {
    destroyAll(made);
  }
}

/** The job of quantizeTokens over `count` tokens of a token-group layout. */
export function tokenGroupJob(
  ctx: GpuContext,
  layout: TokenGroupLayout,
  count: number,
  source: XSource,
): QuantizeJob {
  const shape = quantizeShape(layout, ctx.workgroupSize, source);
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  const rowWords = tokenRowWords(rowBytes, metaBytes);
  return {
    shape,
    aux: tokenGroupAux(layout),
    tokens: count,
    alpha: layout.alpha,
    units: count * shape.groups,
    words: count * rowWords,
    rowBytes,
    metaBytes,
  };
}

/** Staging words of one token row (token-group): codes | metadata | status. */
export function tokenRowWords(rowBytes: number, metaBytes: number): number {
  return codeWordsPerRow(rowBytes) + Math.ceil(metaBytes / 4) + 1;
}

/** The job of quantizeBlock over one block of a channel-block layout. */
export function channelBlockJob(
  ctx: GpuContext,
  layout: ChannelBlockLayout,
  source: XSource,
): QuantizeJob {
  const shape = quantizeShape(layout, ctx.workgroupSize, source);
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  const B = layout.blockTokens;
  return {
    shape,
    aux: new Uint32Array(1),
    tokens: B,
    alpha: layout.alpha,
    units: layout.channels,
    words: B * codeWordsPerRow(rowBytes) + Math.ceil(metaBytes / 4) + 1,
    rowBytes,
    metaBytes,
  };
}

/** quantizeTokens: token-group layouts, bit for bit as quantizeTokensReference. */
export async function quantizeTokensWebgpu(
  ctx: GpuContext,
  inputs: QuantizeTokensInputs,
): Promise<void> {
  const where = 'quantizeTokens (webgpu)';
  const { layout, x, count, codes, codesOffset, meta, metaOffset } = inputs;
  validateTokenGroupLayout(layout, where);
  assertPositiveInt(count + 1, 'count + 1', where);
  const C = layout.channels;
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  assertSpan(x.length, 0, count * C, 'x ([count, channels])', where, 'SHAPE_MISMATCH');
  assertSpan(codes.length, codesOffset, count * rowBytes, 'codes', where);
  assertSpan(meta.length, metaOffset, count * metaBytes, 'meta', where);
  assertFinite(x, 0, count * C, where);
  if (count === 0) return;
  const job = tokenGroupJob(ctx, layout, count, 'host');
  const codeWords = codeWordsPerRow(rowBytes);
  const rowWords = tokenRowWords(rowBytes, metaBytes);
  const staging = await runQuantize(ctx, job, x.subarray(0, count * C));
  const status = new Uint32Array(staging.buffer, staging.byteOffset, staging.byteLength / 4);
  for (let t = 0; t < count; t++) {
    // Like the reference, tokens before a failing one stay written.
    if (status[t * rowWords + rowWords - 1] !== 0) throw metaRangeError(where, t, layout.meta);
    const row = t * rowWords * 4;
    codes.set(staging.subarray(row, row + rowBytes), codesOffset + t * rowBytes);
    const m = row + codeWords * 4;
    meta.set(staging.subarray(m, m + metaBytes), metaOffset + t * metaBytes);
  }
}

/** quantizeBlock: channel-block layouts (KIVI keys), bit for bit as quantizeBlockReference. */
export async function quantizeBlockWebgpu(
  ctx: GpuContext,
  inputs: QuantizeBlockInputs,
): Promise<void> {
  const where = 'quantizeBlock (webgpu)';
  const { layout, x, codes, codesOffset, meta, metaOffset } = inputs;
  validateChannelBlockLayout(layout, where);
  const { channels: C, blockTokens: B } = layout as ChannelBlockLayout;
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  assertSpan(x.length, 0, B * C, 'x', where, 'SHAPE_MISMATCH');
  assertSpan(codes.length, codesOffset, B * rowBytes, 'codes', where);
  assertSpan(meta.length, metaOffset, metaBytes, 'meta', where);
  assertFinite(x, 0, B * C, where);
  const job = channelBlockJob(ctx, layout as ChannelBlockLayout, 'host');
  const codeWords = codeWordsPerRow(rowBytes);
  const words = job.words;
  const staging = await runQuantize(ctx, job, x.subarray(0, B * C));
  const status = new Uint32Array(staging.buffer, staging.byteOffset, staging.byteLength / 4);
  if (status[words - 1] !== 0) throw metaRangeError(where, 0, layout.meta);
  for (let t = 0; t < B; t++) {
    const row = t * codeWords * 4;
    codes.set(staging.subarray(row, row + rowBytes), codesOffset + t * rowBytes);
  }
  const m = B * codeWords * 4;
  meta.set(staging.subarray(m, m + metaBytes), metaOffset);
}
