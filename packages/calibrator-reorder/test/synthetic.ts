import { type CalibrationBatch, type KvGeometry, mulberry32 } from '@skvq/core';

/**
 * Synthetic activations shaped like real LLM K/V (KIVI, KVQuant, SKVQ papers): keys have a
 * few fixed outlier channels 10-50x larger than the rest, with per-channel offsets; values
 * have milder per-channel scale differences. Deterministic for a seed.
 */
export const SYNTHETIC_GEOMETRY: KvGeometry = {
  layers: 1,
  queryHeads: 4,
  kvHeads: 2,
  headDim: 64,
  rope: { style: 'pairwise', theta: 10000 },
};

/** Key outlier channels and their magnitude multipliers (10-50x), spread over both heads. */
const KEY_OUTLIERS: readonly [number, number][] = [
  [3, 12],
  [21, 50],
  [40, 25],
  [70, 35],
  [97, 15],
  [118, 40],
];
const VALUE_OUTLIERS: readonly [number, number][] = [
  [9, 6],
  [77, 8],
];

/** Relative token-to-token spread of an outlier channel. */
const OUTLIER_SPREAD = 0.15;

function gaussian(random: () => number): () => number {
  return () => {
    const u = Math.max(random(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
}

/** Per-channel profile (scale, offset) of the model: fixed by `modelSeed`, shared by all data. */
function profile(
  channels: number,
  modelSeed: number,
  outliers: readonly [number, number][],
  offset: number,
  spread: number,
) {
  const g = gaussian(mulberry32(modelSeed));
  const scale = new Float64Array(channels);
  const mean = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    // Log-normal channel scales: a continuum from ~0.2 to ~5, as in real K/V activations.
    scale[c] = Math.exp(spread * g());
    mean[c] = offset * g();
  }
  for (const [c, m] of outliers.filter(([ch]) => ch < channels)) {
    // Fixed-channel outliers keep their sign and magnitude across tokens (KIVI fig. 2):
    // a large mean, token-to-token spread of 15 % of it.
    scale[c] = OUTLIER_SPREAD * m;
    mean[c] = (c % 2 === 0 ? 1 : -1) * m;
  }
  return { scale, mean };
}

/** `count` tokens of one layer at positions start.. from the synthetic model. */
export function syntheticBatch(
  geometry: KvGeometry,
  layer: number,
  count: number,
  start: number,
  dataSeed: number,
  modelSeed = 7,
): CalibrationBatch {
  const kw = geometry.kvHeads * geometry.headDim;
  const qw = geometry.queryHeads * geometry.headDim;
  const kp = profile(kw, modelSeed * 31 + layer, KEY_OUTLIERS, 1, 0.8);
  const vp = profile(kw, modelSeed * 37 + layer + 1000, VALUE_OUTLIERS, 0.3, 0.6);
  const g = gaussian(mulberry32(dataSeed * 131 + layer));
  const q = new Float32Array(count * qw);
  const k = new Float32Array(count * kw);
  const v = new Float32Array(count * kw);
  const positions = new Int32Array(count);
  for (let t = 0; t < count; t++) {
    positions[t] = start + t;
    for (let c = 0; c < qw; c++) q[t * qw + c] = 0.4 * g();
    for (let c = 0; c < kw; c++) {
      k[t * kw + c] = kp.mean[c]! + kp.scale[c]! * g();
      v[t * kw + c] = vp.mean[c]! + vp.scale[c]! * g();
    }
  }
  return { layer, count, q, k, v, positions };
}
