import {
  type AttendInputs,
  type AttentionAttrs,
  type KvSegment,
  kvHidden,
  type MaybePromise,
  queryHidden,
  SkvqError,
} from '@skvq/core';
import { type CheckedAttrs, checkAttendJob } from '@skvq/formats';
import type { DecodeParts } from '../decode-parts.js';
import { attendFastPartial, attendJobFast } from '../fast-attention.js';
import { fusedDecodeAvailable, fusedDecodeParts } from '../fused-decode.js';
import { mergeAttentionSums, mergeDecodeParts } from './merge.js';
import { segmentsForPost, segmentsShared, type WorkerResponse } from './messages.js';
import type { WorkerPool } from './pool.js';
import { jobWork, positionShares, rowShares } from './split.js';

/**
 * The threaded `attend` of the cpu backend. A job of at least 2 x minWorkPerThread
 * (row, position) pairs is cut into up to `threads` shares: decode by cached positions
 * (split-K: each share's unnormalised softmax, merged exactly here), prefill by query rows.
 * The calling thread runs the first share itself while the workers run the others, so
 * `threads` counts the caller. Smaller jobs, and jobs that cannot be cut (see below), run
 * synchronously on the calling thread, exactly as with threads = 1.
 * Jobs over segments that are not in shared memory (a cache on another storage, arrays the
 * caller made) run on the calling thread too, unless `copyUnshared`.
 *
 * A decode that asks for attentionSums (heavy-hitter rules) also gets each share's softmax
 * numerators back and adds the globally normalised probabilities here. Segments whose
 * positions are not ascending cannot be cut: such a decode runs on the calling thread.
 */
/**
 * Default smallest share of a job worth a thread, in (row, position) pairs. From
 * bench/threads-decode.mjs (BENCHMARKS.md, "CPU threads"): a threaded step costs ~1.3-2.8 ms
 * CPU more than one thread and a step ~3.1 us per cached token, so threads pay from ~2,600
 * tokens (half a step > twice the overhead); a 2-thread decode is threaded from 4,096.
 */
export const DEFAULT_MIN_WORK_PER_THREAD = 2048;

export interface ThreadedAttendOptions {
  fused: boolean;
  threads: number;
  minWorkPerThread: number;
  /** Copy shares of segments over plain ArrayBuffers to the workers (else: one thread). */
  copyUnshared: boolean;
  /** The worker pool (threads - 1 workers), started on first use. */
  pool(): WorkerPool;
}

function fail(response: WorkerResponse): never {
  if (response.ok) throw new Error('unreachable');
  if (response.code !== undefined) throw new SkvqError(response.code, response.message);
  throw new SkvqError('BACKEND_DEVICE_ERROR', `cpu worker failed: ${response.message}`);
}

function decodePartial(
  q: Float32Array,
  position: number,
  keys: readonly KvSegment[],
  values: readonly KvSegment[],
  length: number,
  attrs: CheckedAttrs,
  fused: boolean,
  withScores: boolean,
): DecodeParts {
  return fused
    ? fusedDecodeParts(q, position, keys, values, attrs, withScores)
    : attendFastPartial(q, position, keys, values, length, attrs, withScores);
}

async function attendDecodeThreaded(
  job: AttendInputs,
  attrs: AttentionAttrs,
  checked: CheckedAttrs,
  pieces: number,
  options: ThreadedAttendOptions,
): Promise<Float32Array> {
  const { geometry } = checked;
  const shares = positionShares(job.keys, job.values, job.length, pieces, kvHidden(geometry));
  if (shares === null || shares.length < 2) return attendJobFast(job, attrs, options);
  const fused = options.fused && fusedDecodeAvailable(checked);
  const q = job.q.slice(0, queryHidden(geometry));
  const pool = options.pool();
  const withScores = job.attentionSums !== undefined;
  // Workers first, so they run while this thread computes share 0.
  const posted = shares.slice(1).map((share, i) => {
    const transfer: ArrayBuffer[] = [];
    const keys = segmentsForPost(share.keys, transfer);
    const values = segmentsForPost(share.values, transfer);
    return pool.run(
      i,
      {
        kind: 'partial',
        q,
        position: job.start,
        keys,
        values,
        length: job.length,
        attrs,
        fused,
        withScores,
      },
      transfer,
    );
  });
  const first = shares[0] as (typeof shares)[0];
  let mine: DecodeParts;
  try {
    mine = decodePartial(
      q,
      job.start,
      first.keys,
      first.values,
      job.length,
      checked,
      fused,
      withScores,
    );
  } catch (error) {
    await Promise.allSettled(posted);
    throw error;
  }
  const parts = [mine];
  for (const response of await Promise.all(posted)) {
    if (!response.ok || !('parts' in response)) fail(response);
    parts.push(response.parts);
  }
  if (job.attentionSums !== undefined) {
    mergeAttentionSums(parts, geometry.queryHeads, job.attentionSums);
  }
  return mergeDecodeParts(parts, geometry.queryHeads, geometry.headDim);
}

async function attendRowsThreaded(
  job: AttendInputs,
  attrs: AttentionAttrs,
  checked: CheckedAttrs,
  pieces: number,
  options: ThreadedAttendOptions,
): Promise<Float32Array> {
  const qHidden = queryHidden(checked.geometry);
  const shares = rowShares(job.rows, job.start, job.causal, job.length, pieces);
  if (shares.length < 2) return attendJobFast(job, attrs, options);
  const pool = options.pool();
  const wantSums = job.attentionSums !== undefined;
  const posted = shares.slice(1).map(([first, rows], i) => {
    const transfer: ArrayBuffer[] = [];
    const q = job.q.slice(first * qHidden, (first + rows) * qHidden);
    transfer.push(q.buffer);
    return pool.run(
      i,
      {
        kind: 'rows',
        q,
        start: job.start + first,
        rows,
        causal: job.causal,
        keys: segmentsForPost(job.keys, transfer),
        values: segmentsForPost(job.values, transfer),
        length: job.length,
        attrs,
        fused: options.fused,
        wantSums,
      },
      transfer,
    );
  });
  const out = new Float32Array(job.rows * qHidden);
  const [, rows0] = shares[0] as [number, number];
  try {
    const part = attendJobFast(
      { ...job, q: job.q.subarray(0, rows0 * qHidden), rows: rows0 },
      attrs,
      options,
    );
    out.set(part, 0);
  } catch (error) {
    await Promise.allSettled(posted);
    throw error;
  }
  const responses = await Promise.all(posted);
  responses.forEach((response, i) => {
    if (!response.ok || !('out' in response)) fail(response);
    const [first] = shares[i + 1] as [number, number];
    out.set(response.out, first * qHidden);
    const sums = job.attentionSums;
    if (sums !== undefined && response.sums !== undefined) {
      for (let p = 0; p < job.length; p++) {
        sums[p] = (sums[p] as number) + (response.sums[p] as number);
      }
    }
  });
  return out;
}

/** The threaded attention job (see ThreadedAttendOptions). */
export function attendThreaded(
  job: AttendInputs,
  attrs: AttentionAttrs,
  options: ThreadedAttendOptions,
): MaybePromise<Float32Array> {
  const work = jobWork(job?.rows, job?.start, job?.causal, job?.length);
  const pieces = Math.min(options.threads, Math.floor(work / options.minWorkPerThread));
  // Small (or malformed: validated there) jobs: the single-thread kernel, synchronously.
  if (!(pieces >= 2)) return attendJobFast(job, attrs, options);
  const checked = checkAttendJob(job, attrs, 'attend (cpu)');
  // Segments outside shared memory would be copied to the workers every step, which costs
  // about what the second thread saves (BENCHMARKS.md, "CPU threads"): one thread instead.
  if (!options.copyUnshared && !(segmentsShared(job.keys) && segmentsShared(job.values))) {
    return attendJobFast(job, attrs, options);
  }
  if (!job.causal) return attendDecodeThreaded(job, attrs, checked, pieces, options);
  return attendRowsThreaded(job, attrs, checked, pieces, options);
}
