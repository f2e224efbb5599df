import { createDenseCache, createQuantizedCache, type StreamSpec } from '@skvq/cache';
import {
  type BackendPlugin,
  type BitWidth,
  type CalibrationArtifact,
  type KvGeometry,
  kvHidden,
  LLAMA2_7B_LAYER,
  type MetaFormat,
  mulberry32,
  queryHidden,
  type Registry,
} from '@skvq/core';
import type { MethodSpec } from './methods.js';

/** Fraction of key channels that are outliers (a few per head, as observed in Llama keys). */
export const OUTLIER_FRACTION = 0.02;
/** Outlier channels' magnitude relative to the others (KIVI and SKVQ report ~10x). */
export const OUTLIER_SCALE = 10;
/** Query scale chosen so that attention logits have a spread of a few units (peaked softmax). */
export const QUERY_SCALE = 0.3;

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export interface SyntheticKv {
  tokens: number;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
}

/**
 * Synthetic pre-RoPE q/k/v: keys have per-channel offsets and scales, and OUTLIER_FRACTION of
 * the channels (fixed by `structureSeed`, so calibration and evaluation data share them)
 * are OUTLIER_SCALE times larger; values are per-channel Gaussian with mild spread; queries
 * are Gaussian. `seed` draws the tokens.
 */
export function syntheticKv(
  geometry: KvGeometry,
  tokens: number,
  seed: number,
  structureSeed = 1,
): SyntheticKv {
  const ch = kvHidden(geometry);
  const qw = queryHidden(geometry);
  const srand = mulberry32(structureSeed);
  const kScale = new Float32Array(ch);
  const kMean = new Float32Array(ch);
  const vScale = new Float32Array(ch);
  for (let c = 0; c < ch; c++) {
    const outlier = srand() < OUTLIER_FRACTION;
    kScale[c] = (0.5 + srand()) * (outlier ? OUTLIER_SCALE : 1);
    kMean[c] = gaussian(srand) * (outlier ? OUTLIER_SCALE : 0.5);
    vScale[c] = 0.5 + srand();
  }
  const rand = mulberry32(seed);
  const q = new Float32Array(tokens * qw);
  const k = new Float32Array(tokens * ch);
  const v = new Float32Array(tokens * ch);
  for (let i = 0; i < q.length; i++) q[i] = gaussian(rand) * QUERY_SCALE;
  for (let t = 0; t < tokens; t++) {
    for (let c = 0; c < ch; c++) {
      k[t * ch + c] = kMean[c]! + kScale[c]! * gaussian(rand);
      v[t * ch + c] = vScale[c]! * gaussian(rand);
    }
  }
  return { tokens, q, k, v };
}

/** Relative attention-output error of one method on synthetic data, and its real bits. */
export async function syntheticPoint(
  registry: Registry,
  backend: BackendPlugin,
  spec: MethodSpec,
  data: SyntheticKv,
  options: {
    groupSize: number;
    meta: MetaFormat;
    window: number;
    sinks: number;
    calibration?: CalibrationArtifact;
  },
): Promise<{ error: number; bits: number }> {
  // One Llama-2-7B layer (core): the paper's group size (128) without the 13 GB model.
  const geometry = LLAMA2_7B_LAYER;
  const cache =
    spec.kind === 'dense'
      ? createDenseCache({ geometry, precision: spec.precision, backend, pageTokens: data.tokens })
      : createQuantizedCache({
          geometry,
          backend,
          keys: streamSpec(registry, spec.keys, options, spec.noClip),
          values: streamSpec(registry, spec.values, options, spec.noClip),
          policy: registry.get('policy', 'sliding-window'),
          window: options.window,
          sinks: options.sinks,
          fpPrecision: 'fp16',
          pageTokens: data.tokens,
          ...(options.calibration ? { calibration: options.calibration } : {}),
        });
  const ref = createDenseCache({ geometry, precision: 'fp32', backend, pageTokens: data.tokens });
  await cache.append(0, data.k, data.v, data.tokens);
  await ref.append(0, data.k, data.v, data.tokens);
  const out = await cache.attendPrefill(0, data.q, 0, data.tokens);
  const exact = await ref.attendPrefill(0, data.q, 0, data.tokens);
  let num = 0;
  let den = 0;
  for (let i = 0; i < out.length; i++) {
    num += ((out[i] as number) - (exact[i] as number)) ** 2;
    den += (exact[i] as number) ** 2;
  }
  const b = cache.bytes();
  return { error: Math.sqrt(num / den), bits: (8 * (b.total - b.pageSlack)) / b.elements };
}

function streamSpec(
  registry: Registry,
  s: { method: string; bits: BitWidth },
  options: { groupSize: number; meta: MetaFormat },
  noClip: boolean,
): StreamSpec {
  return {
    quantizer: registry.get('quantizer', s.method),
    bits: s.bits,
    meta: options.meta,
    groupSize: options.groupSize,
    ...(noClip && s.method === 'skvq' ? { alpha: 1 } : {}),
  };
}
