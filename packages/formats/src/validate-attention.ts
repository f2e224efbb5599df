import {
  type AttendDecodeInputs,
  type AttendInputs,
  type AttendPrefillInputs,
  type AttentionAttrs,
  assertFinite,
  type KvGeometry,
  type KvSegment,
  kvHidden,
  metaBytesPerUnit,
  queryHidden,
  rowCodeBytes,
  SkvqError,
  tokensPerMetaUnit,
  validateGeometry,
} from '@skvq/core';
import { validateLayout } from './validate.js';

/**
 * Edge validation shared by the reference and the fast attention kernels, so both reject
 * the same inputs with the same typed errors (the conformance suite checks this).
 */

function invalid(message: string, details: Record<string, unknown> = {}): never {
  throw new SkvqError('INVALID_ARGUMENT', message, { details });
}

function shape(message: string, details: Record<string, unknown> = {}): never {
  throw new SkvqError('SHAPE_MISMATCH', message, { details });
}

function isNonNegativeInt(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0;
}

/** Resolved attention attributes: the geometry checked, the softmax scale decided. */
export interface CheckedAttrs {
  geometry: KvGeometry;
  keysPreRope: boolean;
  scale: number;
}

export function checkAttrs(attrs: AttentionAttrs, where: string): CheckedAttrs {
  if (attrs === null || typeof attrs !== 'object') invalid(`${where}: attrs must be an object`);
  const geometry = validateGeometry(attrs.geometry, `${where}: attrs.geometry`);
  if (typeof attrs.keysPreRope !== 'boolean') {
    invalid(`${where}: attrs.keysPreRope must be true or false, got ${String(attrs.keysPreRope)}`);
  }
  const scale = attrs.scale ?? 1 / Math.sqrt(geometry.headDim);
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) {
    invalid(`${where}: attrs.scale must be a positive finite number, got ${String(scale)}`, {
      scale,
    });
  }
  return { geometry, keysPreRope: attrs.keysPreRope, scale };
}

/** Checks one stream's segments and that together they hold each of 0..length-1 once. */
export function checkSegments(
  segments: readonly KvSegment[],
  length: number,
  channels: number,
  what: 'keys' | 'values',
  where: string,
): void {
  if (!Array.isArray(segments)) invalid(`${where}: ${what} must be an array of segments`);
  const seen = new Uint8Array(length);
  let total = 0;
  segments.forEach((seg, s) => {
    const name = `${where}: ${what}[${s}]`;
    if (!isNonNegativeInt(seg?.count)) invalid(`${name}.count must be a non-negative integer`);
    const count = seg.count;
    if (!(seg.positions instanceof Int32Array) || seg.positions.length < count) {
      shape(`${name}.positions must be an Int32Array of at least ${count} entries (count)`);
    }
    if (seg.kind === 'fp') {
      if (seg.precision === 'fp32') {
        if (!(seg.data instanceof Float32Array))
          invalid(`${name}: fp32 data must be a Float32Array`);
      } else if (seg.precision === 'fp16') {
        if (!(seg.data instanceof Uint16Array)) invalid(`${name}: fp16 data must be a Uint16Array`);
      } else {
        invalid(`${name}.precision ${String(seg.precision)} is not supported; expected fp32, fp16`);
      }
      if (seg.data.length < count * channels) {
        shape(
          `${name}.data has ${seg.data.length} elements; ${count} tokens x ${channels} channels are needed`,
        );
      }
    } else if (seg.kind === 'packed') {
      const layout = seg.layout;
      validateLayout(layout, `${name}.layout`);
      if (layout.channels !== channels) {
        shape(
          `${name}.layout.channels is ${layout.channels}; expected ${channels} (kvHeads x headDim)`,
        );
      }
      const unit = tokensPerMetaUnit(layout);
      if (count % unit !== 0) {
        invalid(`${name}.count ${count} must be a multiple of blockTokens ${unit}`);
      }
      if (!(seg.codes instanceof Uint8Array) || seg.codes.length < count * rowCodeBytes(layout)) {
        shape(
          `${name}.codes must be a Uint8Array of at least ${count * rowCodeBytes(layout)} bytes`,
        );
      }
      const metaNeeded = (count / unit) * metaBytesPerUnit(layout);
      if (!(seg.meta instanceof Uint8Array) || seg.meta.length < metaNeeded) {
        shape(`${name}.meta must be a Uint8Array of at least ${metaNeeded} bytes`);
      }
    } else {
      invalid(
        `${name}.kind ${String((seg as { kind?: unknown })?.kind)} is not supported; expected fp, packed`,
      );
    }
    for (let i = 0; i < count; i++) {
      const p = seg.positions[i] as number;
      if (p < 0 || p >= length) {
        invalid(`${name}.positions[${i}] = ${p} lies outside 0..${length - 1} (length ${length})`, {
          position: p,
          length,
        });
      }
      if (seen[p] === 1) {
        invalid(
          `${where}: ${what} hold position ${p} more than once; each of 0..${length - 1} must appear exactly once`,
          {
            position: p,
          },
        );
      }
      seen[p] = 1;
    }
    total += count;
  });
  if (total !== length) {
    const missing = seen.indexOf(0);
    invalid(
      `${where}: ${what} cover ${total} of ${length} positions (position ${missing} is missing); each of 0..${length - 1} must appear exactly once`,
      { covered: total, length, missing },
    );
  }
}

/** Everything both attention kernels check at the edge, decode and prefill alike. */
export function checkAttention(
  inputs: {
    q: Float32Array;
    keys: readonly KvSegment[];
    values: readonly KvSegment[];
    length: number;
    attentionSums?: Float32Array;
  },
  rows: number,
  attrs: CheckedAttrs,
  where: string,
): void {
  const { geometry } = attrs;
  if (!isNonNegativeInt(inputs.length) || inputs.length < 1) {
    invalid(`${where}: length ${String(inputs.length)} must be a positive integer (cached tokens)`);
  }
  if (!(inputs.q instanceof Float32Array) || inputs.q.length !== rows * queryHidden(geometry)) {
    shape(
      `${where}: q has ${inputs.q?.length} elements; expected ${rows * queryHidden(geometry)} (${rows} x queryHeads ${geometry.queryHeads} x headDim ${geometry.headDim})`,
      { length: inputs.q?.length, expected: rows * queryHidden(geometry) },
    );
  }
  assertFinite(inputs.q, `${where}: q`);
  const channels = kvHidden(geometry);
  checkSegments(inputs.keys, inputs.length, channels, 'keys', where);
  checkSegments(inputs.values, inputs.length, channels, 'values', where);
  const sums = inputs.attentionSums;
  if (sums !== undefined && (!(sums instanceof Float32Array) || sums.length < inputs.length)) {
    shape(`${where}: attentionSums must be a Float32Array of at least length ${inputs.length}`);
  }
}

/** Decode: position must be a non-negative integer (its RoPE position). */
export function checkPosition(position: number, where: string): void {
  if (!isNonNegativeInt(position)) {
    invalid(`${where}: position ${String(position)} must be a non-negative integer`);
  }
}

/** Prefill: the query rows start .. start+count-1 must lie inside the cache. */
export function checkPrefillRange(start: number, count: number, length: number, where: string) {
  if (!isNonNegativeInt(start))
    invalid(`${where}: start ${String(start)} must be a non-negative integer`);
  if (!isNonNegativeInt(count) || count < 1)
    invalid(`${where}: count ${String(count)} must be a positive integer`);
  if (start + count > length) {
    invalid(
      `${where}: query positions ${start}..${start + count - 1} reach past the cache (length ${length})`,
      {
        start,
        count,
        length,
      },
    );
  }
}

/**
 * Everything an attention job is checked for, once per call, decode and prefill alike:
 * the attributes, the query rows (a causal job's rows lie inside the cache; a non-causal
 * job is one decode row at a non-negative position), q, both segment lists and
 * attentionSums. Layouts inside the segments are checked once per layout object
 * (validate.ts), so the per-step cost is one pass over the cached positions.
 */
export function checkAttendJob(
  job: AttendInputs,
  attrs: AttentionAttrs,
  where: string,
): CheckedAttrs {
  const checked = checkAttrs(attrs, where);
  if (job === null || typeof job !== 'object') invalid(`${where}: the job must be an object`);
  if (typeof job.causal !== 'boolean') {
    invalid(`${where}: causal must be true or false, got ${String(job.causal)}`);
  }
  if (job.causal) {
    checkPrefillRange(job.start, job.rows, job.length, where);
  } else {
    checkPosition(job.start, where);
    if (job.rows !== 1) {
      invalid(`${where}: a non-causal (decode) job has 1 query row, got ${String(job.rows)}`);
    }
  }
  checkAttention(job, job.rows, checked, where);
  return checked;
}

/**
 * Runs a job on a backend whose kernels still have a decode path and a prefill path inside
 * (the GPU backends): the job's rows go to `prefill` when causal, else to `decode` (after
 * checking that a non-causal job is one row, as every backend requires).
 */
export function runJob<T>(
  job: AttendInputs,
  where: string,
  paths: {
    decode(inputs: AttendDecodeInputs): T;
    prefill(inputs: AttendPrefillInputs): T;
  },
): T {
  const { q, start, rows, keys, values, length, attentionSums } = job;
  if (job.causal)
    return paths.prefill({ q, start, count: rows, keys, values, length, attentionSums });
  if (rows !== 1) {
    invalid(`${where}: a non-causal (decode) job has 1 query row, got ${String(rows)}`);
  }
  return paths.decode({ q, position: start, keys, values, length, attentionSums });
}
