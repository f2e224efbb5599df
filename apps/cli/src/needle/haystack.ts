import { type KvGeometry, kvHidden, mulberry32 } from '@skvq/core';
import { OUTLIER_FRACTION, OUTLIER_SCALE } from '../synthetic.js';

/**
 * The haystack of the needle test: N synthetic pre-RoPE keys and values of one layer with
 * the structure real keys have (per-channel offsets and scales, OUTLIER_FRACTION of the
 * channels OUTLIER_SCALE times larger, as in `skvq synthetic`). Tokens are generated in
 * fixed chunks of CHUNK_TOKENS from (seed, chunk index) alone, so any pass over the
 * haystack (the margin pre-pass, the fill, the streaming references) regenerates exactly
 * the same numbers without ever holding the whole context.
 */

/** Tokens per generated chunk; every pass uses the same chunking (it fixes the numbers). */
export const CHUNK_TOKENS = 4096;

export interface HaystackStructure {
  channels: number;
  kMean: Float32Array;
  kScale: Float32Array;
  vScale: Float32Array;
  /** True for the outlier key channels. */
  outlier: Uint8Array;
}

/**
 * Fills `out[offset .. offset+count)` with standard normals: Marsaglia's polar method over
 * an inlined mulberry32 stream (same generator as core's, without a closure call per draw:
 * the haystack needs billions of draws at 1M tokens). Returns the generator's next state.
 */
export function fillGaussian(
  state: number,
  out: Float32Array,
  offset = 0,
  count = out.length - offset,
): number {
  let st = state >>> 0;
  const next = () => {
    st = (st + 0x6d2b79f5) >>> 0;
    let t = st;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const end = offset + count;
  let i = offset;
  while (i < end) {
    const a = 2 * next() - 1;
    const b = 2 * next() - 1;
    const r = a * a + b * b;
    if (r >= 1 || r === 0) continue;
    const f = Math.sqrt((-2 * Math.log(r)) / r);
    out[i++] = a * f;
    if (i < end) out[i++] = b * f;
  }
  return st;
}

/** Per-channel structure of keys and values, fixed by `structureSeed`. */
export function haystackStructure(geometry: KvGeometry, structureSeed: number): HaystackStructure {
  const channels = kvHidden(geometry);
  const rand = mulberry32(structureSeed);
  const g = new Float32Array(1);
  let gState = structureSeed ^ 0x2545f491;
  const normal = () => {
    gState = fillGaussian(gState, g);
    return g[0] as number;
  };
  const kMean = new Float32Array(channels);
  const kScale = new Float32Array(channels);
  const vScale = new Float32Array(channels);
  const outlier = new Uint8Array(channels);
  for (let c = 0; c < channels; c++) {
    const isOutlier = rand() < OUTLIER_FRACTION;
    outlier[c] = isOutlier ? 1 : 0;
    kScale[c] = (0.5 + rand()) * (isOutlier ? OUTLIER_SCALE : 1);
    kMean[c] = normal() * (isOutlier ? OUTLIER_SCALE : 0.5);
    vScale[c] = 0.5 + rand();
  }
  return { channels, kMean, kScale, vScale, outlier };
}

/** A 32-bit seed for one (seed, chunk, stream) triple (keys and values draw separately). */
function chunkSeed(seed: number, chunk: number, stream: 0 | 1): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(chunk + 1, 0xc2b2ae35);
  h ^= stream * 0x27d4eb2f;
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 13)) >>> 0;
}

/**
 * Keys of chunk `chunk` ([count, channels], pre-RoPE) into `k`; `count` may be below
 * CHUNK_TOKENS only for the last chunk of a context (the prefix of a full chunk).
 */
export function haystackKeys(
  s: HaystackStructure,
  seed: number,
  chunk: number,
  count: number,
  k: Float32Array,
): void {
  fillGaussian(chunkSeed(seed, chunk, 0), k, 0, count * s.channels);
  for (let t = 0; t < count; t++) {
    const row = t * s.channels;
    for (let c = 0; c < s.channels; c++) {
      k[row + c] = (s.kMean[c] as number) + (s.kScale[c] as number) * (k[row + c] as number);
    }
  }
}

/** Values of chunk `chunk` ([count, channels]) into `v`. */
export function haystackValues(
  s: HaystackStructure,
  seed: number,
  chunk: number,
  count: number,
  v: Float32Array,
): void {
  fillGaussian(chunkSeed(seed, chunk, 1), v, 0, count * s.channels);
  for (let t = 0; t < count; t++) {
    const row = t * s.channels;
    for (let c = 0; c < s.channels; c++)
      v[row + c] = (s.vScale[c] as number) * (v[row + c] as number);
  }
}

/** Number of chunks of a context of `tokens` tokens and the size of chunk `i`. */
export function chunkCount(tokens: number): number {
  return Math.ceil(tokens / CHUNK_TOKENS);
}
export function chunkSize(tokens: number, i: number): number {
  return Math.min(CHUNK_TOKENS, tokens - i * CHUNK_TOKENS);
}
