import {
  type ChannelBlockLayout,
  SkvqError,
  type StoreQuantizeBlockInputs,
  type StoreQuantizeTokensInputs,
  type StoreRows,
  type StoreView,
} from '@skvq/core';
import {
  assertFinite,
  assertSpan,
  validateChannelBlockLayout,
  validateTokenGroupLayout,
} from '@skvq/formats';
import { destroyAll, type GpuContext } from '../gpu-context.js';
import {
  channelBlockJob,
  metaRangeError,
  type QuantizeJob,
  recordQuantize,
  tokenGroupJob,
  tokenRowWords,
} from '../quantize.js';
import { codeWordsPerRow } from '../wgsl/quantize.js';
import {
  rowFlagsWgsl,
  SCATTER_UNIFORM_WORDS,
  scatterWgsl,
  verdictWgsl,
} from '../wgsl/store-bytes.js';
import { type ArenaView, gridOf, type WebgpuStorage, wordsSpanned } from './device-storage.js';

/**
 * Quantize-and-append into store pages (StoreKernels.quantizeTokens / quantizeBlock): the
 * host kernels' params and pack passes (bit for bit the reference), reading x from the
 * store when the rows already live there (tokens leaving the window), then passes that
 * check the job (non-finite input, metadata overflow) and scatter the staging rows into
 * the page's codes and metadata at their byte offsets. Crossing the host boundary: uniform
 * blocks, the layout's aux words, host rows when x is a host array, and the 8-byte verdict
 * read back so errors are thrown like the reference's.
 */

/**
 * The aux words (permutation, groups) of each layout quantized into the store, uploaded
 * once per layout instead of once per call (33 KiB per call for a 4096-channel layout).
 */
export class AuxBuffers {
  private held = new WeakMap<object, GPUBuffer>();
  private readonly all: GPUBuffer[] = [];

  get(ctx: GpuContext, layout: object, aux: Uint32Array): GPUBuffer {
    let b = this.held.get(layout);
    if (b === undefined) {
      b = ctx.storage(aux);
      this.held.set(layout, b);
      this.all.push(b);
    }
    return b;
  }

  dispose(): void {
    for (const b of this.all) b.destroy();
    this.all.length = 0;
    this.held = new WeakMap();
  }
}

interface XPlan {
  buffer: GPUBuffer;
  xOff: number;
  source: 'fp32' | 'fp16';
  made: GPUBuffer[];
}

function isStoreRows(x: unknown): x is StoreRows {
  return typeof x === 'object' && x !== null && !ArrayBuffer.isView(x) && 'view' in x;
}

/** Where a job's x rows are: uploaded host rows, or rows of the store. */
function planX(
  ctx: GpuContext,
  storage: WebgpuStorage,
  x: Float32Array | StoreRows,
  elements: number,
  where: string,
): XPlan {
  if (x instanceof Float32Array) {
    assertSpan(x.length, 0, elements, 'x ([count, channels])', where, 'SHAPE_MISMATCH');
    assertFinite(x, 0, elements, where);
    return {
      buffer: ctx.storage(x.subarray(0, Math.max(1, elements))),
      xOff: 0,
      source: 'fp32',
      made: [],
    };
  }
  if (!isStoreRows(x)) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: x must be a Float32Array or store rows ({ view, precision })`,
    );
  }
  if (x.precision !== 'fp32' && x.precision !== 'fp16') {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: x.precision ${String(x.precision)}; expected fp32, fp16`,
    );
  }
  const size = x.precision === 'fp32' ? 4 : 2;
  const v = storage.locate(x.view, `${where}: x.view`);
  if (v.byteLength < elements * size) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: x.view holds ${v.byteLength} bytes; ${elements * size} needed ([count, channels] ${x.precision})`,
    );
  }
  if (v.at % size !== 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: ${x.precision} rows must start at a multiple of ${size} bytes`,
    );
  }
  return { buffer: v.arena.gpu, xOff: v.at, source: x.precision, made: [] };
}

function target(
  storage: WebgpuStorage,
  view: StoreView,
  bytes: number,
  what: string,
  where: string,
): ArenaView {
  const v = storage.locate(view, `${where}: ${what}`);
  if (v.byteLength < bytes) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: ${what} holds ${v.byteLength} bytes; ${bytes} needed`,
    );
  }
  return v;
}

/** One scatter of staging rows into a page region. */
interface Scatter {
  to: ArenaView;
  rows: number;
  unit: number;
  srcStride: number;
  srcBase: number;
}

async function run(
  ctx: GpuContext,
  auxBuffer: GPUBuffer,
  job: QuantizeJob,
  x: XPlan,
  statusStride: number,
  statusBase: number,
  scatters: readonly Scatter[],
  where: string,
  meta: QuantizeJob['shape']['meta'],
): Promise<void> {
  const wg = ctx.workgroupSize;
  const C = job.shape.channels;
  const made: GPUBuffer[] = [...x.made];
  try {
    const flags = ctx.output(job.tokens * 4);
    const verdict = ctx.output(8);
    made.push(flags, verdict);
    const bytes = await ctx.run(
      (encoder) => {
        const rec = recordQuantize(ctx, encoder, job, x.buffer, x.xOff, auxBuffer);
        made.push(...rec.made);
        const u = ctx.uniform(new Uint32Array([job.tokens, x.xOff, statusStride, statusBase]));
        made.push(u);
        const flagsPipe = ctx.pipeline(`store-flags:${wg}:${C}:${x.source}`, () =>
          rowFlagsWgsl(wg, C, x.source),
        );
        ctx.dispatch(
          encoder,
          flagsPipe,
          [u, x.buffer, rec.staging, flags],
          gridOf(ctx, job.tokens),
        );
        const verdictPipe = ctx.pipeline('store-verdict', verdictWgsl);
        ctx.dispatch(encoder, verdictPipe, [u, flags, verdict], [1]);
        const scatterPipe = ctx.pipeline(`store-scatter:${wg}`, () => scatterWgsl(wg));
        for (const s of scatters) {
          const len = s.rows * s.unit;
          if (len === 0) continue;
          const words = wordsSpanned(s.to.at, len);
          const su = new Uint32Array(SCATTER_UNIFORM_WORDS);
          su.set([s.to.at, s.rows, s.unit, s.srcStride, s.srcBase, words]);
          const uniforms = ctx.uniform(su);
          made.push(uniforms);
          ctx.dispatch(
            encoder,
            scatterPipe,
            [uniforms, rec.staging, verdict, s.to.arena.gpu],
            gridOf(ctx, words),
          );
        }
      },
      verdict,
      8,
    );
    const [first, kind] = new Uint32Array(bytes);
    if (kind === 2) {
      throw new SkvqError(
        'NON_FINITE_INPUT',
        `${where}: x holds a non-finite value (NaN or Infinity); only finite activations can be quantized`,
      );
    }
    if (kind === 1) throw metaRangeError(where, first as number, meta);
  } finally {
    destroyAll(made);
  }
}

export async function quantizeTokensStore(
  ctx: GpuContext,
  storage: WebgpuStorage,
  auxBuffers: AuxBuffers,
  inputs: StoreQuantizeTokensInputs,
): Promise<void> {
  const where = 'quantizeTokens (webgpu store)';
  const { layout, count } = inputs;
  validateTokenGroupLayout(layout, where);
  if (!Number.isInteger(count) || count < 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: count ${count} must be a non-negative integer`,
    );
  }
  const job = tokenGroupJob(ctx, layout, Math.max(1, count), 'fp32');
  const codes = target(storage, inputs.codes, count * job.rowBytes, 'codes', where);
  const meta = target(storage, inputs.meta, count * job.metaBytes, 'meta', where);
  const x = planX(ctx, storage, inputs.x, count * layout.channels, where);
  if (count === 0) {
    destroyAll(x.made);
    return;
  }
  if (inputs.x instanceof Float32Array) x.made.push(x.buffer);
  job.shape.source = x.source;
  const rowWords = tokenRowWords(job.rowBytes, job.metaBytes);
  const stride = rowWords * 4;
  await run(
    ctx,
    auxBuffers.get(ctx, layout, job.aux),
    job,
    x,
    rowWords,
    rowWords - 1,
    [
      { to: codes, rows: count, unit: job.rowBytes, srcStride: stride, srcBase: 0 },
      {
        to: meta,
        rows: count,
        unit: job.metaBytes,
        srcStride: stride,
        srcBase: codeWordsPerRow(job.rowBytes) * 4,
      },
    ],
    where,
    layout.meta,
  );
}

export async function quantizeBlockStore(
  ctx: GpuContext,
  storage: WebgpuStorage,
  auxBuffers: AuxBuffers,
  inputs: StoreQuantizeBlockInputs,
): Promise<void> {
  const where = 'quantizeBlock (webgpu store)';
  validateChannelBlockLayout(inputs.layout, where);
  const layout = inputs.layout as ChannelBlockLayout;
  const B = layout.blockTokens;
  const job = channelBlockJob(ctx, layout, 'fp32');
  const codes = target(storage, inputs.codes, B * job.rowBytes, 'codes', where);
  const meta = target(storage, inputs.meta, job.metaBytes, 'meta', where);
  const x = planX(ctx, storage, inputs.x, B * layout.channels, where);
  if (inputs.x instanceof Float32Array) x.made.push(x.buffer);
  job.shape.source = x.source;
  const codeBytes = codeWordsPerRow(job.rowBytes) * 4;
  await run(
    ctx,
    auxBuffers.get(ctx, layout, job.aux),
    job,
    x,
    0,
    job.words - 1,
    [
      { to: codes, rows: B, unit: job.rowBytes, srcStride: codeBytes, srcBase: 0 },
      { to: meta, rows: 1, unit: job.metaBytes, srcStride: 0, srcBase: B * codeBytes },
    ],
    where,
    layout.meta,
  );
}
