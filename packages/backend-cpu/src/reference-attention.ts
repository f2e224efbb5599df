import {
  type AttendDecodeInputs,
  type AttendInputs,
  type AttendPrefillInputs,
  type AttentionAttrs,
  applyRope,
  decodeJob,
  type KvSegment,
  kvHidden,
  prefillJob,
  queryHidden,
  ropeInverseFrequencies,
} from '@skvq/core';
import { type CheckedAttrs, checkAttendJob, segmentRowsReference } from '@skvq/formats';

/**
 * Reference attention: the oracle every backend is compared with. It reconstructs every
 * cached key and value in original channel order (float64), rotates pre-RoPE keys by their
 * positions and each query by its own, and computes softmax(q . k * scale) . v per query
 * head in float64, query head h reading KV head floor(h / (queryHeads / kvHeads)).
 */

/** All keys or values by position: [length, channels] float64, keys rotated if asked. */
function gatherStream(
  segments: readonly KvSegment[],
  length: number,
  attrs: CheckedAttrs,
  rotate: boolean,
): Float64Array {
  const { geometry } = attrs;
  const channels = kvHidden(geometry);
  const out = new Float64Array(length * channels);
  const inv = ropeInverseFrequencies(geometry.headDim, geometry.rope.theta);
  for (const seg of segments) {
    const rows = segmentRowsReference(seg, channels);
    for (let i = 0; i < seg.count; i++) {
      const p = seg.positions[i] as number;
      for (let c = 0; c < channels; c++) out[p * channels + c] = rows[i * channels + c] as number;
      if (rotate)
        applyRope(out, p * channels, geometry.kvHeads, geometry.headDim, geometry.rope, p, inv);
    }
  }
  return out;
}

/**
 * Attention of `rows` query rows at positions `firstPosition + r`; `causal` limits row r to
 * keys at positions <= its own, otherwise every cached position is visible.
 */
function attendReference(
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
  const { geometry, scale } = attrs;
  const { queryHeads, headDim } = geometry;
  const channels = kvHidden(geometry);
  const qHidden = queryHidden(geometry);
  const group = queryHeads / geometry.kvHeads;
  const K = gatherStream(keys, length, attrs, attrs.keysPreRope);
  const V = gatherStream(values, length, attrs, false);
  const inv = ropeInverseFrequencies(headDim, geometry.rope.theta);
  const out = new Float32Array(rows * qHidden);
  const qr = new Float64Array(qHidden);
  const p = new Float64Array(length);
  for (let r = 0; r < rows; r++) {
    const position = firstPosition + r;
    for (let i = 0; i < qHidden; i++) qr[i] = q[r * qHidden + i] as number;
    applyRope(qr, 0, queryHeads, headDim, geometry.rope, position, inv);
    const visible = causal ? position + 1 : length;
    for (let h = 0; h < queryHeads; h++) {
      const kvBase = Math.floor(h / group) * headDim;
      let max = Number.NEGATIVE_INFINITY;
      for (let t = 0; t < visible; t++) {
        let dot = 0;
        for (let d = 0; d < headDim; d++) {
          dot += (qr[h * headDim + d] as number) * (K[t * channels + kvBase + d] as number);
        }
        p[t] = dot * scale;
        if ((p[t] as number) > max) max = p[t] as number;
      }
      let sum = 0;
      for (let t = 0; t < visible; t++) {
        p[t] = Math.exp((p[t] as number) - max);
        sum += p[t] as number;
      }
      for (let d = 0; d < headDim; d++) {
        let acc = 0;
        for (let t = 0; t < visible; t++)
          acc += (p[t] as number) * (V[t * channels + kvBase + d] as number);
        out[r * qHidden + h * headDim + d] = acc / sum;
      }
      if (attentionSums !== undefined) {
        for (let t = 0; t < visible; t++) {
          attentionSums[t] = (attentionSums[t] as number) + (p[t] as number) / sum / queryHeads;
        }
      }
    }
  }
  return out;
}

/** The oracle's one attention job (decode: one non-causal row; prefill: causal rows). */
export function attendReferenceJob(job: AttendInputs, attrs: AttentionAttrs): Float32Array {
  const checked = checkAttendJob(job, attrs, 'attend (cpu-reference)');
  const { q, rows, start, causal, keys, values, length, attentionSums } = job;
  return attendReference(q, rows, start, causal, keys, values, length, attentionSums, checked);
}

export function attendDecodeReference(
  inputs: AttendDecodeInputs,
  attrs: AttentionAttrs,
): Float32Array {
  return attendReferenceJob(decodeJob(inputs), attrs);
}

export function attendPrefillReference(
  inputs: AttendPrefillInputs,
  attrs: AttentionAttrs,
): Float32Array {
  return attendReferenceJob(prefillJob(inputs), attrs);
}
