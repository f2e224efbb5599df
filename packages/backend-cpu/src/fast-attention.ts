import {
  type AttendDecodeInputs,
  type AttendInputs,
  type AttendPrefillInputs,
  type AttentionAttrs,
  decodeJob,
  type KvSegment,
  kvHidden,
  prefillJob,
  queryHidden,
} from '@skvq/core';
import { type CheckedAttrs, checkAttendJob, ropeTable, rotateRow } from '@skvq/formats';
import type { DecodeParts } from './decode-parts.js';
import { rowReader } from './fast-rows.js';
import { attendDecodeFused, fusedDecodeAvailable } from './fused-decode.js';

/**
 * Fast CPU attention over the segment lists. Per cached token the key row is decoded once
 * (codes table-decoded and dequantized on the fly into one scratch row), rotated once at
 * its position from the cached cos/sin table when keys are pre-RoPE, and then dotted with
 * every query head (GQA shares the row across its group) and every query row (prefill);
 * values are accumulated the same way. Scores are float32, softmax and sums float64.
 */

function attendFast(
  q: Float32Array,
  rows: number,
  firstPosition: number,
  causal: boolean,
  keys: readonly KvSegment[],
  values: readonly KvSegment[],
  length: number,
  attentionSums: Float32Array | undefined,
  attrs: CheckedAttrs,
): Float32Array {
  const parts = attendFastParts(
    q,
    rows,
    firstPosition,
    causal,
    keys,
    values,
    length,
    attentionSums,
    attrs,
  );
  return normalizeParts(parts, rows, attrs);
}

/** out = acc / sum per (row, head); [rows, queryHeads * headDim]. */
function normalizeParts(parts: DecodeParts, rows: number, attrs: CheckedAttrs): Float32Array {
  const { queryHeads, headDim } = attrs.geometry;
  const qHidden = queryHeads * headDim;
  const out = new Float32Array(rows * qHidden);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < queryHeads; h++) {
      const inv = 1 / (parts.sums[r * queryHeads + h] as number);
      const o = r * qHidden + h * headDim;
      for (let d = 0; d < headDim; d++) out[o + d] = (parts.acc[o + d] as number) * inv;
    }
  }
  return out;
}

/**
 * The unnormalised decode step (one row, not causal) over a subset of the cached tokens, in
 * JavaScript: split-K for the threaded backend when the WebAssembly module cannot run.
 */
export function attendFastPartial(
  q: Float32Array,
  position: number,
  keys: readonly KvSegment[],
  values: readonly KvSegment[],
  length: number,
  attrs: CheckedAttrs,
  withScores = false,
): DecodeParts {
  return attendFastParts(
    q,
    1,
    position,
    false,
    keys,
    values,
    length,
    undefined,
    attrs,
    true,
    withScores,
  );
}

/** Per (row, head) softmax max and sum, and the unnormalised value accumulator. */
function attendFastParts(
  q: Float32Array,
  rows: number,
  firstPosition: number,
  causal: boolean,
  keys: readonly KvSegment[],
  values: readonly KvSegment[],
  length: number,
  attentionSums: Float32Array | undefined,
  attrs: CheckedAttrs,
  subset = false,
  withScores = false,
): DecodeParts {
  const { geometry, scale } = attrs;
  const { queryHeads, kvHeads, headDim, rope } = geometry;
  const channels = kvHidden(geometry);
  const qHidden = queryHidden(geometry);
  const group = queryHeads / kvHeads;
  const rotates = rope.style !== 'none';
  const lastQuery = firstPosition + rows - 1;
  // Key positions are < length (validated): the table covers them; a query past it (a far
  // decode position) is rotated directly by rotateRow, so the cached table never grows with
  // an attend position, only with the tokens held.
  const table = rotates ? ropeTable(headDim, rope, Math.min(lastQuery + 1, length)) : null;

  // Queries rotated at their own positions, float32 like the scores.
  const qr = new Float32Array(rows * qHidden);
  qr.set(q.subarray(0, rows * qHidden));
  if (table !== null) {
    for (let r = 0; r < rows; r++) {
      rotateRow(
        qr.subarray(r * qHidden, (r + 1) * qHidden),
        queryHeads,
        headDim,
        rope.style as 'pairwise' | 'half',
        table,
        firstPosition + r,
      );
    }
  }
  // Visible positions of row r: all when not causal, else <= firstPosition + r.
  const limit = (r: number) => (causal ? firstPosition + r : length - 1);

  // Pass 1: scores[(r * queryHeads + h) * length + position].
  const scores = new Float32Array(rows * queryHeads * length);
  // A subset's positions held by other threads get no weight.
  if (subset) scores.fill(Number.NEGATIVE_INFINITY);
  const row = new Float32Array(channels);
  for (const seg of keys) {
    const read = rowReader(seg, channels);
    for (let i = 0; i < seg.count; i++) {
      const p = seg.positions[i] as number;
      const firstRow = causal ? Math.max(0, p - firstPosition) : 0;
      if (firstRow >= rows) continue;
      read(i, row);
      if (attrs.keysPreRope && table !== null) {
        rotateRow(row, kvHeads, headDim, rope.style as 'pairwise' | 'half', table, p);
      }
      for (let r = firstRow; r < rows; r++) {
        const qBase = r * qHidden;
        for (let h = 0; h < queryHeads; h++) {
          const kBase = Math.floor(h / group) * headDim;
          const qh = qBase + h * headDim;
          let dot = 0;
          for (let d = 0; d < headDim; d++)
            dot += (qr[qh + d] as number) * (row[kBase + d] as number);
          scores[(r * queryHeads + h) * length + p] = dot * scale;
        }
      }
    }
  }

  // Softmax per (row, head) over its visible positions; probabilities stay in `scores`.
  const sums = new Float64Array(rows * queryHeads);
  const maxes = new Float64Array(rows * queryHeads);
  for (let r = 0; r < rows; r++) {
    const visible = limit(r) + 1;
    for (let h = 0; h < queryHeads; h++) {
      const base = (r * queryHeads + h) * length;
      let max = Number.NEGATIVE_INFINITY;
      for (let t = 0; t < visible; t++)
        if ((scores[base + t] as number) > max) max = scores[base + t] as number;
      maxes[r * queryHeads + h] = max;
      let sum = 0;
      for (let t = 0; t < visible; t++) {
        const e = Math.exp((scores[base + t] as number) - max);
        scores[base + t] = e;
        sum += e;
      }
      sums[r * queryHeads + h] = sum;
      if (attentionSums !== undefined) {
        const w = 1 / (sum * queryHeads);
        for (let t = 0; t < visible; t++) {
          attentionSums[t] = (attentionSums[t] as number) + (scores[base + t] as number) * w;
        }
      }
    }
  }

  // Pass 2: weighted sum of values, one decoded value row per cached token.
  const acc = new Float64Array(rows * qHidden);
  for (const seg of values) {
    const read = rowReader(seg, channels);
    for (let i = 0; i < seg.count; i++) {
      const p = seg.positions[i] as number;
      const firstRow = causal ? Math.max(0, p - firstPosition) : 0;
      if (firstRow >= rows) continue;
      read(i, row);
      for (let r = firstRow; r < rows; r++) {
        for (let h = 0; h < queryHeads; h++) {
          const w = scores[(r * queryHeads + h) * length + p] as number;
          if (w === 0) continue;
          const vBase = Math.floor(h / group) * headDim;
          const o = r * qHidden + h * headDim;
          for (let d = 0; d < headDim; d++)
            acc[o + d] = (acc[o + d] as number) + w * (row[vBase + d] as number);
        }
      }
    }
  }
  if (!withScores) return { max: maxes, sums, acc };
  // Row 0's probabilities as [position][queryHeads], like the WebAssembly kernel's.
  const numerators = new Float32Array(length * queryHeads);
  for (let h = 0; h < queryHeads; h++) {
    for (let p = 0; p < length; p++)
      numerators[p * queryHeads + h] = scores[h * length + p] as number;
  }
  return { max: maxes, sums, acc, scores: numerators, scoresFrom: 0 };
}

/**
 * Scores kept at once by the fast prefill: rows x queryHeads x length float32 values. A
 * 4096-token prompt of 32 heads would need 2 GiB in one go, so query rows are processed in
 * chunks that stay within 2^22 scores (16 MiB); each chunk re-reads the cache once.
 */
export const PREFILL_SCORE_BUDGET = 1 << 22;

/**
 * The cpu backend's one attention job. A decode row goes through the WebAssembly SIMD
 * module when `fused` and the engine allow; everything else through attendFast, in chunks
 * of query rows that keep the score matrix within PREFILL_SCORE_BUDGET.
 */
export function attendJobFast(
  job: AttendInputs,
  attrs: AttentionAttrs,
  options: { fused: boolean } = { fused: true },
): Float32Array {
  const checked = checkAttendJob(job, attrs, 'attend (cpu)');
  const { q, rows, start, causal, keys, values, length, attentionSums } = job;
  if (!causal && options.fused && fusedDecodeAvailable(checked)) {
    return attendDecodeFused(q, start, keys, values, length, attentionSums, checked);
  }
  const qHidden = queryHidden(checked.geometry);
  const chunk = Math.max(
    1,
    Math.floor(PREFILL_SCORE_BUDGET / (checked.geometry.queryHeads * length)),
  );
  if (chunk >= rows) {
    return attendFast(q, rows, start, causal, keys, values, length, attentionSums, checked);
  }
  const out = new Float32Array(rows * qHidden);
  for (let first = 0; first < rows; first += chunk) {
    const n = Math.min(chunk, rows - first);
    const part = attendFast(
      q.subarray(first * qHidden, (first + n) * qHidden),
      n,
      start + first,
      causal,
      keys,
      values,
      length,
      attentionSums,
      checked,
    );
    out.set(part, first * qHidden);
  }
  return out;
}

/** Decode as a job; `fused: false` keeps it in JavaScript even where SIMD is available. */
export function attendDecodeFast(
  inputs: AttendDecodeInputs,
  attrs: AttentionAttrs,
  options: { fused: boolean } = { fused: true },
): Float32Array {
  return attendJobFast(decodeJob(inputs), attrs, options);
}

export function attendPrefillFast(
  inputs: AttendPrefillInputs,
  attrs: AttentionAttrs,
): Float32Array {
  return attendJobFast(prefillJob(inputs), attrs);
}
