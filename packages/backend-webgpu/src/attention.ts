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

/** Runs the partial / reduce / (sums) passes for `rows` query rows. */
async function attend(
  ctx: GpuContext,
  job: AttendInputs,
  c: CheckedAttrs,
  where: string,
): Promise<Float32Array> {
  const { geometry } = c;
  const { queryHeads, headDim } = geometry;
  const qHidden = queryHidden(geometry);
  const channels = kvHidden(geometry);
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
  const pool = { k: new BytePool(), v: new BytePool() };
  const tables = new WordTable();
  const ks = addStream(job.keys, length, channels, pool.k, tables, 'keys', where);
  const vs = addStream(job.values, length, channels, pool.v, tables, 'values', where);

  // Queries rotated at their own positions in float64, as the reference does.
  const q = new Float32Array(rows * qHidden);
  const inv = ropeInverseFrequencies(headDim, geometry.rope.theta);
  const qr = new Float64Array(qHidden);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < qHidden; i++) qr[i] = job.q[r * qHidden + i] as number;
    applyRope(qr, 0, queryHeads, headDim, geometry.rope, job.start + r, inv);
    q.set(qr, r * qHidden);
  }
  const rotateKeys = c.keysPreRope && geometry.rope.style !== 'none';
  const rope = rotateKeys ? ropeTables(headDim, geometry.rope, length) : undefined;
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

  const wg = ctx.workgroupSize;
  const chunk = wg * ATTENTION_CHUNK_PER_THREAD;
  const chunks = Math.ceil(length / chunk);
  const sums = job.attentionSums !== undefined;
  const shape: AttentionShape = {
    queryHeads,
    kvHeads: geometry.kvHeads,
    headDim,
    ropeStyle: geometry.rope.style,
    rotateKeys,
    scale: Math.fround(c.scale),
    workgroup: wg,
    chunk,
    sums,
  };
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
  const shared = [
    ctx.storage(floats),
    ctx.storage(pool.k.build()),
    ctx.storage(pool.v.build()),
    ctx.storage(tables.build()),
  ] as const;
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
        kSeg: ks.segBase,
        vSeg: vs.segBase,
        kIdx: ks.index,
        vIdx: vs.index,
        ...offsets,
        ropeTile: ROPE_TILE,
        qBase: r0 * qHidden,
      };
      const uniforms = ctx.uniform(new Uint32Array(UNIFORM_FIELDS.map((f) => values[f])));
      const outCount = n * qHidden;
      const resultBytes = outCount * 4 + (sums ? length * 4 : 0);
      try {
        const bytes = await ctx.run(
          (encoder) => {
            const bind = [uniforms, ...shared, partials];
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
    destroyAll([...shared, ...scratch]);
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
