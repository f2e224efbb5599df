import {
  type KvGeometry,
  type KvStream,
  metaBytesPerUnit,
  rowCodeBytes,
  type TokenGroupLayout,
} from '@skvq/core';
import { dequantizeTokensReference, quantizeTokensReference } from '@skvq/formats';
import {
  type AttentionSegment,
  accumulateError,
  type CacheObjective,
  cacheAttention,
  causalAttention,
  checkSegment,
  ropeRows,
} from './attention.js';
import { invalid } from './validate.js';

/**
 * Default clip-ratio grid: 0.80, 0.82, ..., 1.00 (11 values). It brackets the uniform values
 * the official SKVQ code ships (0.92 long-context, 0.96 perplexity) and includes 1 (no clip),
 * so the search can never do worse than not clipping on its own samples.
 */
export const DEFAULT_ALPHA_GRID: readonly number[] = Object.freeze(
  Array.from({ length: 11 }, (_, i) => (80 + 2 * i) / 100),
);

/** Quantizes then dequantizes `count` tokens of `data` ([count, channels]) with the reference. */
export function quantizeRoundTrip(
  layout: TokenGroupLayout,
  data: Float32Array,
  count: number,
): Float32Array {
  const codes = new Uint8Array(count * rowCodeBytes(layout));
  const meta = new Uint8Array(count * metaBytesPerUnit(layout));
  quantizeTokensReference(layout, data, count, codes, 0, meta, 0);
  const out = new Float32Array(count * layout.channels);
  dequantizeTokensReference(layout, codes, 0, meta, 0, count, out, 0);
  return out;
}

export interface ClipSearchInput {
  geometry: KvGeometry;
  /** Calibration samples of the layer (pre-RoPE q, k, v). */
  segments: readonly AttentionSegment[];
  /** Which stream is quantized; the other stays full precision. */
  stream: KvStream;
  /** The stream's layout (perm, groups, bits, meta); its alpha is replaced by each grid value. */
  layout: TokenGroupLayout;
  grid?: readonly number[];
  /**
   * The cache the error is measured through: window and sinks at full precision as the
   * protocol sees them. Absent: every token quantized (the paper's objective).
   */
  objective?: CacheObjective;
}

export interface ClipSearchResult {
  /** The grid value with the lowest error (the larger alpha on ties: less clipping). */
  alpha: number;
  error: number;
  grid: number[];
  /** Relative attention-output error for each grid value. */
  errors: number[];
}

/** Validates a clip-ratio grid: non-empty, every value in (0, 1]. */
export function checkAlphaGrid(grid: readonly number[], where: string): number[] {
  if (!Array.isArray(grid) || grid.length === 0)
    invalid(where, 'alpha grid must be a non-empty array');
  for (const [i, a] of grid.entries()) {
    if (typeof a !== 'number' || !(a > 0 && a <= 1)) {
      invalid(where, `alpha grid[${i}] is ${String(a)}; expected a clip ratio in (0, 1]`, {
        index: i,
        value: a,
      });
    }
  }
  return [...grid];
}

/** Validates a cache objective: protocol decode or prefill, window and sinks integers >= 0. */
export function checkObjective(objective: CacheObjective, where: string): CacheObjective {
  if (objective.protocol !== 'decode' && objective.protocol !== 'prefill')
    invalid(where, `objective protocol ${String(objective.protocol)}; expected decode, prefill`);
  for (const key of ['window', 'sinks'] as const) {
    const n = objective[key];
    if (!Number.isInteger(n) || n < 0)
      invalid(where, `objective ${key} ${String(n)} must be an integer >= 0`);
  }
  return { protocol: objective.protocol, window: objective.window, sinks: objective.sinks };
}

/**
 * Clip-ratio search of one stream of one layer (SKVQ.md section 2): for each alpha of the
 * grid, quantize the stream with the reference quantizer (calibrated permutation and
 * groups), run causal attention with RoPE on the samples, and measure the relative error
 * of the attention output against full precision. The objective is the attention output,
 * not the raw element MSE, because clipping trades outlier error for resolution and only
 * the attention result tells which side wins.
 */
export function searchClipRatio(input: ClipSearchInput): ClipSearchResult {
  const { geometry, segments, stream, layout } = input;
  const where = `searchClipRatio(${stream})`;
  if (stream !== 'k' && stream !== 'v') invalid(where, `stream ${String(stream)}; expected k, v`);
  const grid = checkAlphaGrid(input.grid ?? DEFAULT_ALPHA_GRID, where);
  const objective = input.objective ? checkObjective(input.objective, where) : undefined;
  if (segments.length === 0 || segments.every((s) => s.count === 0)) {
    invalid(where, 'no calibration samples: at least one token is needed');
  }
  // Everything that does not depend on alpha, once.
  const prepared = segments.map((s, i) => {
    checkSegment(geometry, s, `${where} segment ${i}`);
    const qRot = ropeRows(geometry, s.q, geometry.queryHeads, s.positions);
    const kRot = ropeRows(geometry, s.k, geometry.kvHeads, s.positions);
    const exact = causalAttention(geometry, s.count, qRot, kRot, s.v, s.positions);
    return { s, qRot, kRot, exact };
  });
  const errors = grid.map((alpha) => {
    const trial: TokenGroupLayout = { ...layout, alpha };
    const acc = new Float64Array(2);
    for (const { s, qRot, kRot, exact } of prepared) {
      if (s.count === 0) continue;
      let approx: Float64Array;
      if (objective) {
        const kHatRot =
          stream === 'k'
            ? ropeRows(
                geometry,
                quantizeRoundTrip(trial, s.k, s.count),
                geometry.kvHeads,
                s.positions,
              )
            : kRot;
        const vHat = stream === 'v' ? quantizeRoundTrip(trial, s.v, s.count) : s.v;
        approx = cacheAttention(
          geometry,
          s.count,
          qRot,
          kRot,
          kHatRot,
          s.v,
          vHat,
          s.positions,
          objective,
        );
      } else if (stream === 'k') {
        const kHat = quantizeRoundTrip(trial, s.k, s.count);
        const kHatRot = ropeRows(geometry, kHat, geometry.kvHeads, s.positions);
        approx = causalAttention(geometry, s.count, qRot, kHatRot, s.v, s.positions);
      } else {
        const vHat = quantizeRoundTrip(trial, s.v, s.count);
        approx = causalAttention(geometry, s.count, qRot, kRot, vHat, s.positions);
      }
      accumulateError(acc, approx, exact);
    }
    return acc[1]! > 0 ? Math.sqrt(acc[0]! / acc[1]!) : 0;
  });
  let best = 0;
  for (let i = 1; i < grid.length; i++) {
    const better = errors[i]! < errors[best]!;
    const tieLarger = errors[i] === errors[best] && grid[i]! > grid[best]!;
    if (better || tieLarger) best = i;
  }
  return { alpha: grid[best]!, error: errors[best]!, grid, errors };
}
