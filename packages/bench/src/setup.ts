import { createQuantizedCache, type QuantizedCache } from '@skvq/cache';
import {
  type BackendPlugin,
  CALIBRATION_FORMAT,
  CALIBRATION_VERSION,
  type CalibrationArtifact,
  type KvGeometry,
  kvHidden,
  LLAMA2_7B_LAYER,
  mulberry32,
} from '@skvq/core';
import { slidingWindowPolicy } from '@skvq/policy-sliding-window';
import { groupClipQuantizer } from '@skvq/quantizer-group-clip';
import { cpuMs } from './clock.js';

/** SKVQ.md: group 128, K 2 bits, V 1.5 bits (ternary), fp8 scale/zero, window 128, 5 sinks. */
export const GROUP_SIZE = 128;
export const WINDOW = 128;
export const SINKS = 5;
/** The clip ratio of the synthetic calibration (between SKVQ's released 0.92 and 0.96). */
export const ALPHA = 0.95;
/** Prefill chunk of the fills. */
export const CHUNK = 4096;

/** Random activations in [-1, 1) with a few 8x outlier channels (like real keys). */
export function randomTokens(count: number, channels: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(count * channels);
  for (let i = 0; i < out.length; i++) {
    const s = 2 * r() - 1;
    out[i] = i % channels < 4 ? s * 8 : s;
  }
  return out;
}

/** Synthetic SKVQ calibration: random permutation, equal groups of 128, alpha 0.95. */
export function syntheticCalibration(geometry: KvGeometry, seed = 1): CalibrationArtifact {
  const r = mulberry32(seed);
  const channels = kvHidden(geometry);
  const stream = (bits: 2 | 1.5) => {
    const perm = Array.from({ length: channels }, (_, i) => i);
    for (let i = channels - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const groupOffsets = Array.from(
      { length: channels / GROUP_SIZE + 1 },
      (_, g) => g * GROUP_SIZE,
    );
    return { bits, perm, groupOffsets, alpha: ALPHA };
  };
  return {
    format: CALIBRATION_FORMAT,
    version: CALIBRATION_VERSION,
    model: { name: 'synthetic-llama2-7b-layer', fingerprint: `synthetic:${seed}` },
    geometry,
    settings: {
      groupSize: GROUP_SIZE,
      grouping: 'equal',
      meta: 'fp8e4m3',
      seed,
      restarts: 1,
      alphaGrid: [ALPHA],
    },
    data: { source: 'random', tokens: 0 },
    layers: Array.from({ length: geometry.layers }, () => ({ k: stream(2), v: stream(1.5) })),
  };
}

/** keysPreRope false stores keys after RoPE (the cache rotates them before quantizing). */
export function skvqCache(
  backend: BackendPlugin,
  geometry = LLAMA2_7B_LAYER,
  keysPreRope = true,
): QuantizedCache {
  return createQuantizedCache({
    keysPreRope,
    geometry,
    backend,
    keys: { quantizer: groupClipQuantizer, bits: 2, meta: 'fp8e4m3', groupSize: GROUP_SIZE },
    values: { quantizer: groupClipQuantizer, bits: 1.5, meta: 'fp8e4m3', groupSize: GROUP_SIZE },
    calibration: syntheticCalibration(geometry),
    policy: slidingWindowPolicy,
    window: WINDOW,
    sinks: SINKS,
  });
}

/** A pool of random chunks reused while filling (generating 1M random tokens would dominate). */
export class TokenPool {
  private static shared: TokenPool | null = null;
  /** One pool for every benchmark of a run (generating it takes seconds). */
  static get(channels: number): TokenPool {
    TokenPool.shared ??= new TokenPool(channels);
    return TokenPool.shared;
  }

  readonly k: Float32Array[];
  readonly v: Float32Array[];
  constructor(channels: number, chunks = 2) {
    this.k = Array.from({ length: chunks }, (_, i) => randomTokens(CHUNK, channels, 100 + i));
    this.v = Array.from({ length: chunks }, (_, i) => randomTokens(CHUNK, channels, 200 + i));
  }
  chunk(i: number): { k: Float32Array; v: Float32Array } {
    return { k: this.k[i % this.k.length]!, v: this.v[i % this.v.length]! };
  }
}

/** Appends `tokens` tokens in prefill chunks; returns CPU seconds spent in append. */
export function fill(
  cache: QuantizedCache,
  pool: TokenPool,
  tokens: number,
  onChunk?: (done: number) => void,
): number {
  const channels = kvHidden(cache.geometry);
  let seconds = 0;
  for (let done = 0, i = 0; done < tokens; i++) {
    const n = Math.min(CHUNK, tokens - done);
    const { k, v } = pool.chunk(i);
    const t0 = cpuMs();
    cache.append(0, k.subarray(0, n * channels), v.subarray(0, n * channels), n);
    seconds += (cpuMs() - t0) / 1000;
    done += n;
    onChunk?.(done);
  }
  return seconds;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
