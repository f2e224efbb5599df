// The test oracle: "dequantize every segment with the reference quantizers, then attend in
// float64". Built from @skvq/core and the quantizers' scalar references only, so it shares
// no code with the cache or with any backend kernel.
import { dequantizeBlockReference, quantizeBlockReference } from '@skvq/baselines';
import {
  type AttendDecodeInputs,
  type AttendPrefillInputs,
  type AttentionAttrs,
  applyRope,
  type BackendPlugin,
  type KvGeometry,
  type KvSegment,
  kvHidden,
  metaBytesPerUnit,
  mulberry32,
  queryHidden,
  ropeInverseFrequencies,
  rowCodeBytes,
} from '@skvq/core';
import {
  decodeFp16,
  dequantizeTokensReference,
  quantizeTokensReference,
} from '@skvq/quantizer-group-clip';

export interface Rows {
  /** [count, kvHidden] original channel order, float64. */
  data: Float64Array;
  positions: Int32Array;
}

/** Every token of a segment list, reconstructed with the scalar references. */
export function segmentRows(segments: readonly KvSegment[], channels: number): Rows[] {
  return segments.map((seg) => {
    const out = new Float64Array(seg.count * channels);
    if (seg.kind === 'fp') {
      for (let i = 0; i < seg.count * channels; i++) {
        const raw = seg.data[i]!;
        out[i] = seg.precision === 'fp16' ? decodeFp16(raw) : raw;
      }
    } else if (seg.layout.kind === 'token-group') {
      const tmp = new Float32Array(seg.count * channels);
      dequantizeTokensReference(seg.layout, seg.codes, 0, seg.meta, 0, seg.count, tmp, 0);
      out.set(tmp);
    } else {
      const layout = seg.layout;
      const blocks = seg.count / layout.blockTokens;
      const tmp = new Float32Array(layout.blockTokens * channels);
      for (let b = 0; b < blocks; b++) {
        dequantizeBlockReference(
          layout,
          seg.codes,
          b * layout.blockTokens * rowCodeBytes(layout),
          seg.meta,
          b * metaBytesPerUnit(layout),
          tmp,
          0,
        );
        out.set(tmp, b * layout.blockTokens * channels);
      }
    }
    return { data: out, positions: seg.positions.slice(0, seg.count) };
  });
}

/** Causal attention of one query position in float64 over reconstructed rows. */
export function referenceAttendOne(
  geometry: KvGeometry,
  keysPreRope: boolean,
  q: Float32Array,
  qOffset: number,
  queryPosition: number,
  keys: Rows[],
  values: Rows[],
  scale = 1 / Math.sqrt(geometry.headDim),
  attentionSums?: Float64Array,
): Float64Array {
  const { headDim, queryHeads, kvHeads } = geometry;
  const ch = kvHidden(geometry);
  const invFreq =
    geometry.rope.style === 'none'
      ? new Float64Array(0)
      : ropeInverseFrequencies(headDim, geometry.rope.theta);
  const qr = Float64Array.from(q.subarray(qOffset, qOffset + queryHidden(geometry)));
  applyRope(qr, 0, queryHeads, headDim, geometry.rope, queryPosition, invFreq);
  // Gather keys and values by position.
  const keyByPos = new Map<number, Float64Array>();
  for (const seg of keys) {
    for (let i = 0; i < seg.positions.length; i++) {
      const p = seg.positions[i]!;
      if (p > queryPosition) continue;
      const row = seg.data.slice(i * ch, (i + 1) * ch);
      if (keysPreRope) applyRope(row, 0, kvHeads, headDim, geometry.rope, p, invFreq);
      keyByPos.set(p, row);
    }
  }
  const valueByPos = new Map<number, Float64Array>();
  for (const seg of values) {
    for (let i = 0; i < seg.positions.length; i++) {
      const p = seg.positions[i]!;
      if (p <= queryPosition) valueByPos.set(p, seg.data.slice(i * ch, (i + 1) * ch));
    }
  }
  const positions = [...keyByPos.keys()].sort((a, b) => a - b);
  const out = new Float64Array(queryHeads * headDim);
  const group = queryHeads / kvHeads;
  for (let h = 0; h < queryHeads; h++) {
    const kvh = Math.floor(h / group);
    const scores = positions.map((p) => {
      const k = keyByPos.get(p)!;
      let s = 0;
      for (let d = 0; d < headDim; d++) s += qr[h * headDim + d]! * k[kvh * headDim + d]!;
      return s * scale;
    });
    const max = Math.max(...scores);
    const w = scores.map((s) => Math.exp(s - max));
    const sum = w.reduce((a, b) => a + b, 0);
    positions.forEach((p, i) => {
      const v = valueByPos.get(p)!;
      const pr = w[i]! / sum;
      if (attentionSums) attentionSums[p] = (attentionSums[p] ?? 0) + pr / queryHeads;
      for (let d = 0; d < headDim; d++) out[h * headDim + d]! += pr * v[kvh * headDim + d]!;
    });
  }
  return out;
}

export function referenceDecode(inputs: AttendDecodeInputs, attrs: AttentionAttrs): Float64Array {
  const ch = kvHidden(attrs.geometry);
  const sums = inputs.attentionSums ? new Float64Array(inputs.length) : undefined;
  const out = referenceAttendOne(
    attrs.geometry,
    attrs.keysPreRope,
    inputs.q,
    0,
    inputs.position,
    segmentRows(inputs.keys, ch),
    segmentRows(inputs.values, ch),
    attrs.scale,
    sums,
  );
  if (sums) for (let i = 0; i < sums.length; i++) inputs.attentionSums![i]! += sums[i]!;
  return out;
}

export function referencePrefill(inputs: AttendPrefillInputs, attrs: AttentionAttrs): Float64Array {
  const ch = kvHidden(attrs.geometry);
  const qh = queryHidden(attrs.geometry);
  const keys = segmentRows(inputs.keys, ch);
  const values = segmentRows(inputs.values, ch);
  const out = new Float64Array(inputs.count * qh);
  for (let i = 0; i < inputs.count; i++) {
    out.set(
      referenceAttendOne(
        attrs.geometry,
        attrs.keysPreRope,
        inputs.q,
        i * qh,
        inputs.start + i,
        keys,
        values,
        attrs.scale,
      ),
      i * qh,
    );
  }
  return out;
}

/**
 * A backend made of the oracle and the scalar reference quantizers: lets the cache be
 * tested without any optimised kernel, and records every attention call it receives.
 */
export function oracleBackend(): BackendPlugin & {
  calls: { keys: readonly KvSegment[]; values: readonly KvSegment[] }[];
} {
  const calls: { keys: readonly KvSegment[]; values: readonly KvSegment[] }[] = [];
  return {
    kind: 'backend',
    name: 'test-oracle',
    priority: 0,
    calls,
    kernels: {
      quantizeTokens: (i) =>
        quantizeTokensReference(
          i.layout,
          i.x,
          i.count,
          i.codes,
          i.codesOffset,
          i.meta,
          i.metaOffset,
        ),
      quantizeBlock: (i) =>
        quantizeBlockReference(i.layout, i.x, 0, i.codes, i.codesOffset, i.meta, i.metaOffset),
      attendDecode: (inputs, attrs) => {
        calls.push({ keys: inputs.keys, values: inputs.values });
        return Float32Array.from(referenceDecode(inputs, attrs));
      },
      attendPrefill: (inputs, attrs) => {
        calls.push({ keys: inputs.keys, values: inputs.values });
        return Float32Array.from(referencePrefill(inputs, attrs));
      },
    },
  };
}

/** Plain float64 causal attention over unquantized K/V ([length, kvHidden], keys pre-RoPE). */
export function exactAttend(
  geometry: KvGeometry,
  q: Float32Array,
  qOffset: number,
  position: number,
  k: Float32Array,
  v: Float32Array,
  length: number,
): Float64Array {
  const ch = kvHidden(geometry);
  const positions = Int32Array.from({ length }, (_, i) => i);
  const rows = (x: Float32Array): Rows[] => [
    { data: Float64Array.from(x.subarray(0, length * ch)), positions },
  ];
  return referenceAttendOne(geometry, true, q, qOffset, position, rows(k), rows(v));
}

export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = (actual[i] as number) - (expected[i] as number);
    num += d * d;
    den += (expected[i] as number) ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Deterministic pseudo-random numbers (mulberry32 from @skvq/core). */
export const rng: (seed: number) => () => number = mulberry32;

/** Gaussian-ish random floats [n] (sum of uniforms), with a few outlier channels. */
export function randomActivations(n: number, seed: number, channels = 0): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = r() + r() + r() - 1.5;
    if (channels > 0 && i % channels < 2) s *= 6; // outlier channels, as in real keys
    out[i] = s;
  }
  return out;
}
