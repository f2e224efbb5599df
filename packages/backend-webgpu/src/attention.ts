import {
  type AttendDecodeInputs,
  type AttendInputs,
  type AttendPrefillInputs,
  type AttentionAttrs,
  applyRope,
  decodeJob,
  kvHidden,
  prefillJob,
  queryHidden,
  ropeInverseFrequencies,
  SkvqError,
} from '@skvq/core';
import { type CheckedAttrs, checkAttrs, checkPosition, checkPrefillRange } from '@skvq/formats';
import { ATTENTION_CHUNK_PER_THREAD, ROPE_TILE } from './constants.js';
import { destroyAll, type GpuContext } from './gpu-context.js';
import { ropeTables } from './rope-tables.js';
import { addStream, BytePool, WordTable } from './segments.js';
import {
  type AttentionShape,
  attentionKey,
  partialWgsl,
  reduceWgsl,
  sumsWgsl,
  UNIFORM_FIELDS,
} from './wgsl/attention.js';

function invalid(message: string, details: Record<string, unknown> = {}): never {
  throw new SkvqError('INVALID_ARGUMENT', message, { details });
}

/** The checks every attention job makes on its query rows and accumulator. */
export function checkJob(
  job: {
    q: Float32Array;
    rows: number;
    length: number;
    attentionSums?: Float32Array;
  },
  qHidden: number,
  where: string,
): void {
  const { rows, length } = job;
  if (!Number.isInteger(length) || length < 1)
    invalid(`${where}: length ${length} must be a positive integer`);
  if (!(job.q instanceof Float32Array) || job.q.length !== rows * qHidden) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: q has ${job.q?.length} elements; expected ${rows * qHidden} ([${rows}, ${qHidden}])`,
    );
  }
  if (
    job.attentionSums !== undefined &&
    !(job.attentionSums instanceof Float32Array && job.attentionSums.length >= length)
  ) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: attentionSums must be a Float32Array of at least ${length} entries`,
    );
  }
}

/** Queries rotated at their own positions in float64, as the reference does. */
export function rotateQueries(
  q: Float32Array,
  start: number,
  rows: number,
  geometry: CheckedAttrs['geometry'],
): Float32Array {
  const { queryHeads, headDim } = geometry;
  const qHidden = queryHidden(geometry);
  const out = new Float32Array(rows * qHidden);
  const inv = ropeInverseFrequencies(headDim, geometry.rope.theta);
  const qr = new Float64Array(qHidden);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < qHidden; i++) qr[i] = q[r * qHidden + i] as number;
    applyRope(qr, 0, queryHeads, headDim, geometry.rope, start + r, inv);
    out.set(qr, r * qHidden);
  }
  return out;
}

/** Where the partial pass finds segments: bound buffers and table offsets. */
export interface AttentionSources {
  source: AttentionShape['source'];
  /** Bound after the uniforms, before the partials (pool: floats, kpool, vpool, tables). */
  shared: readonly GPUBuffer[];
  kSeg: number;
  vSeg: number;
  kIdx: number;
  vIdx: number;
  rope: { hiCos: number; hiSin: number; loCos: number; loSin: number };
}

/** The shape of an attention job's kernels. */
export function attentionShape(
  ctx: GpuContext,
  c: CheckedAttrs,
  sums: boolean,
  source: AttentionShape['source'],
): AttentionShape {
  const { geometry } = c;
  const wg = ctx.workgroupSize;
  return {
    queryHeads: geometry.queryHeads,
    kvHeads: geometry.kvHeads,
    headDim: geometry.headDim,
    ropeStyle: geometry.rope.style,
    rotateKeys: c.keysPreRope && geometry.rope.style !== 'none',
    scale: Math.fround(c.scale),
    workgroup: wg,
    chunk: wg * ATTENTION_CHUNK_PER_THREAD,
    sums,
    source,
  };
}

/**
 * Runs the partial / reduce / (sums) passes for `rows` query rows (already rotated, in
 * the first binding of `src.shared`), in batches of rows whose partials fit one binding.
 */
export async function runAttention(
  ctx: GpuContext,
  job: {
    start: number;
    rows: number;
    causal: boolean;
    length: number;
    attentionSums?: Float32Array;
  },
  shape: AttentionShape,
  src: AttentionSources,
): Promise<Float32Array> {
  const { queryHeads, headDim, workgroup: wg, chunk, sums } = shape;
  const qHidden = queryHeads * headDim;
  const { rows, length } = job;
  const chunks = Math.ceil(length / chunk);
  const partial = ctx.pipeline(attentionKey('partial', shape), () => partialWgsl(shape));
  const reduce = ctx.pipeline(attentionKey('reduce', shape), () => reduceWgsl(shape));
  const sumsPipe = sums
    ? ctx.pipeline(attentionKey('sums', shape), () => sumsWgsl(shape))
    : undefined;

  // Query rows run in batches whose partials (and scores) fit one storage binding.
  const limit = ctx.maxBindingBytes;
  const perRow = Math.max(
    queryHeads * chunks * (headDim + 2) * 4,
    sums ? queryHeads * length * 4 : 0,
  );
  const batch = Math.max(
    1,
    Math.min(rows, Math.floor(limit / perRow), ctx.device.limits.maxComputeWorkgroupsPerDimension),
  );
  const scratch = [
    ctx.output(batch * queryHeads * chunks * (headDim + 2) * 4),
    ctx.output(sums ? batch * queryHeads * length * 4 : 4),
    ctx.output(batch * queryHeads * 2 * 4),
    ctx.output(sums ? length * 4 : 4),
    ctx.output(batch * qHidden * 4),
    ctx.output(batch * qHidden * 4 + (sums ? length * 4 : 0)),
  ] as const;
  const [partials, scores, stats, sumsBuf, out, result] = scratch;
  const output = new Float32Array(rows * qHidden);
  try {
    for (let r0 = 0; r0 < rows; r0 += batch) {
      const n = Math.min(batch, rows - r0);
      const values: Record<(typeof UNIFORM_FIELDS)[number], number> = {
        length,
        start: job.start + r0,
        rows: n,
        causal: job.causal ? 1 : 0,
        chunks,
        kSeg: src.kSeg,
        vSeg: src.vSeg,
        kIdx: src.kIdx,
        vIdx: src.vIdx,
        ...src.rope,
        ropeTile: ROPE_TILE,
        qBase: r0 * qHidden,
      };
      const uniforms = ctx.uniform(new Uint32Array(UNIFORM_FIELDS.map((f) => values[f])));
      const outCount = n * qHidden;
      const resultBytes = outCount * 4 + (sums ? length * 4 : 0);
      try {
        const bytes = await ctx.run(
          (encoder) => {
            const bind = [uniforms, ...src.shared, partials];
            if (sums) bind.push(scores);
            ctx.dispatch(encoder, partial, bind, [chunks, queryHeads, n]);
            ctx.dispatch(
              encoder,
              reduce,
              [uniforms, partials, out, stats],
              [Math.ceil(outCount / wg)],
            );
            encoder.copyBufferToBuffer(out, 0, result, 0, outCount * 4);
            if (sumsPipe !== undefined) {
              ctx.dispatch(
                encoder,
                sumsPipe,
                [uniforms, scores, stats, sumsBuf],
                [Math.ceil(length / wg)],
              );
              encoder.copyBufferToBuffer(sumsBuf, 0, result, outCount * 4, length * 4);
            }
          },
          result,
          resultBytes,
        );
        const all32 = new Float32Array(bytes);
        output.set(all32.subarray(0, outCount), r0 * qHidden);
        if (job.attentionSums !== undefined) {
          for (let p = 0; p < length; p++) {
            job.attentionSums[p] =
              (job.attentionSums[p] as number) + (all32[outCount + p] as number);
          }
        }
      } finally {
        uniforms.destroy();
      }
    }
    return output;
  } finally {
    destroyAll(scratch);
  }
}

/** The host-array job: every segment uploaded into one byte pool per stream. */
async function attend(
  ctx: GpuContext,
  job: AttendInputs,
  c: CheckedAttrs,
  where: string,
): Promise<Float32Array> {
  const { geometry } = c;
  const qHidden = queryHidden(geometry);
  const channels = kvHidden(geometry);
  checkJob(job, qHidden, where);
  const { rows, length } = job;
  const pool = { k: new BytePool(), v: new BytePool() };
  const tables = new WordTable();
  const ks = addStream(job.keys, length, channels, pool.k, tables, 'keys', where);
  const vs = addStream(job.values, length, channels, pool.v, tables, 'values', where);

  const q = rotateQueries(job.q, job.start, rows, geometry);
  const shape = attentionShape(ctx, c, job.attentionSums !== undefined, 'pool');
  const rope = shape.rotateKeys ? ropeTables(geometry.headDim, geometry.rope, length) : undefined;
  const floats = new Float32Array(
    q.length + (rope ? rope.hiCos.length * 2 + rope.loCos.length * 2 : 0),
  );
  floats.set(q, 0);
  const offsets = { hiCos: 0, hiSin: 0, loCos: 0, loSin: 0 };
  if (rope !== undefined) {
    let at = q.length;
    for (const name of ['hiCos', 'hiSin', 'loCos', 'loSin'] as const) {
      offsets[name] = at;
      floats.set(rope[name], at);
      at += rope[name].length;
    }
  }
  const shared = [
    ctx.storage(floats),
    ctx.storage(pool.k.build()),
    ctx.storage(pool.v.build()),
    ctx.storage(tables.build()),
  ];
  try {
    return await runAttention(ctx, job, shape, {
      source: 'pool',
      shared,
      kSeg: ks.segBase,
      vSeg: vs.segBase,
      kIdx: ks.index,
      vIdx: vs.index,
      rope: offsets,
    });
  } finally {
    destroyAll(shared);
  }
}

/**
 * The WebGPU backend's one attention job. The attributes and query rows are checked here
 * (the same checks and errors as every backend, from @skvq/formats); the segments are
 * checked while they are packed into the upload (segments.ts), once per call.
 */
export async function attendWebgpu(
  ctx: GpuContext,
  job: AttendInputs,
  attrs: AttentionAttrs,
): Promise<Float32Array> {
  const where = 'attend (webgpu)';
  const c = checkAttrs(attrs, where);
  if (job.causal) {
    checkPrefillRange(job.start, job.rows, job.length, where);
  } else {
    checkPosition(job.start, where);
    if (job.rows !== 1)
      invalid(`${where}: a non-causal (decode) job has 1 query row, got ${job.rows}`);
  }
  return attend(ctx, job, c, where);
}

export function attendDecodeWebgpu(
  ctx: GpuContext,
  inputs: AttendDecodeInputs,
  attrs: AttentionAttrs,
): Promise<Float32Array> {
  return attendWebgpu(ctx, decodeJob(inputs), attrs);
}

export function attendPrefillWebgpu(
  ctx: GpuContext,
  inputs: AttendPrefillInputs,
  attrs: AttentionAttrs,
): Promise<Float32Array> {
  return attendWebgpu(ctx, prefillJob(inputs), attrs);
}
