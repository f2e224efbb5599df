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
  type QuantizeShape,
  quantizeShape,
  shapeKey,
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

function alphaBits(alpha: number): number {
  return new Uint32Array(new Float32Array([alpha]).buffer)[0] as number;
}

function metaRangeError(where: string, token: number, meta: MetaFormat): SkvqError {
  return new SkvqError(
    'INVALID_ARGUMENT',
    `${where}: a scale or zero of token ${token} is out of the ${meta} range; the activations are too large for this metadata format (use fp16 or fp32 metadata)`,
    { details: { token, format: meta } },
  );
}

/** Runs both passes and returns the staging bytes. */
async function runQuantize(
  ctx: GpuContext,
  shape: QuantizeShape,
  x: Float32Array,
  aux: Uint32Array,
  tokens: number,
  alpha: number,
  units: number,
  words: number,
  rowBytes: number,
  metaBytes: number,
): Promise<Uint8Array> {
  const wg = shape.workgroup;
  const params = ctx.pipeline(shapeKey('q-params', shape), () => paramsWgsl(shape));
  const pack = ctx.pipeline(`${shapeKey('q-pack', shape)}:${rowBytes}:${metaBytes}`, () =>
    packWgsl(shape, rowBytes, metaBytes),
  );
  const buffers = [
    ctx.uniform(new Uint32Array([tokens, alphaBits(alpha), units, words])),
    ctx.storage(x),
    ctx.storage(aux),
    ctx.output(units * 16),
    ctx.output(words * 4),
  ];
  const [uniforms, xBuf, auxBuf, paramsBuf, staging] = buffers as [
    GPUBuffer,
    GPUBuffer,
    GPUBuffer,
    GPUBuffer,
    GPUBuffer,
  ];
  try {
    const bytes = await ctx.run(
      (encoder) => {
        ctx.dispatch(encoder, params, [uniforms, xBuf, auxBuf, paramsBuf], [Math.ceil(units / wg)]);
        ctx.dispatch(
          encoder,
          pack,
          [uniforms, xBuf, auxBuf, paramsBuf, staging],
          [Math.ceil(words / wg)],
        );
      },
      staging,
      words * 4,
    );
    return new Uint8Array(bytes);
  } finally {
    destroyAll(buffers);
  }
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
  const shape = quantizeShape(layout, ctx.workgroupSize);
  const codeWords = codeWordsPerRow(rowBytes);
  const rowWords = codeWords + Math.ceil(metaBytes / 4) + 1;
  const staging = await runQuantize(
    ctx,
    shape,
    x.subarray(0, count * C),
    tokenGroupAux(layout),
    count,
    layout.alpha,
    count * shape.groups,
    count * rowWords,
    rowBytes,
    metaBytes,
  );
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
  const shape = quantizeShape(layout, ctx.workgroupSize);
  const codeWords = codeWordsPerRow(rowBytes);
  const words = B * codeWords + Math.ceil(metaBytes / 4) + 1;
  const staging = await runQuantize(
    ctx,
    shape,
    x.subarray(0, B * C),
    new Uint32Array(1),
    B,
    layout.alpha,
    C,
    words,
    rowBytes,
    metaBytes,
  );
  const status = new Uint32Array(staging.buffer, staging.byteOffset, staging.byteLength / 4);
  if (status[words - 1] !== 0) throw metaRangeError(where, 0, layout.meta);
  for (let t = 0; t < B; t++) {
    const row = t * codeWords * 4;
    codes.set(staging.subarray(row, row + rowBytes), codesOffset + t * rowBytes);
  }
  const m = B * codeWords * 4;
  meta.set(staging.subarray(m, m + metaBytes), metaOffset);
}
