import type { KvGeometry } from './geometry.js';
import type { MaybePromise } from './kernels.js';

/**
 * Bytes a cache actually holds, broken down (SKVQ.md section 5: average bits count
 * everything stored). Every field is in bytes, for all layers, keys and values together.
 */
export interface CacheBytes {
  /** Packed codes of quantized tokens. */
  codes: number;
  /** Scales and zeros of quantized tokens. */
  metadata: number;
  /**
   * Stored token positions: contiguous tokens share one identity array per cache (counted
   * once); only tokens kept out of order store their own.
   */
  positions: number;
  /** Full-precision recent-window tokens. */
  window: number;
  /** Full-precision attention-sink tokens. */
  sinks: number;
  /** Other full-precision tokens: kept by filter rules, or waiting for a whole block. */
  keptFp: number;
  /** Per-layer channel permutations and group boundaries (amortised over the tokens). */
  permutations: number;
  /** Allocated but unused capacity of the last page of each stream. */
  pageSlack: number;
  /** Sum of all the above. */
  total: number;
  /** Tokens held (per layer). */
  tokens: number;
  /** K and V elements held: tokens * layers * 2 * kvHidden. */
  elements: number;
  /** 8 * total / elements (NaN when empty). */
  bitsPerElement: number;
}

/**
 * What an adapter sees of a KV cache: append K/V, attend with queries. Keys are given
 * pre-RoPE; the cache applies RoPE where its configuration says (inside the kernel for
 * pre-RoPE caching). Arrays are [tokens, kvHidden] for K/V, [tokens, queryHeads*headDim]
 * for queries.
 */
export interface AttentionCache {
  readonly geometry: KvGeometry;
  /** Tokens held by `layer`. */
  length(layer: number): number;
  /** Append `count` tokens (positions length(layer) .. length(layer)+count-1). */
  append(layer: number, k: Float32Array, v: Float32Array, count: number): MaybePromise<void>;
  /** Decode attention for the query at `position` (normally the last appended token). */
  attend(layer: number, q: Float32Array, position: number): MaybePromise<Float32Array>;
  /** Causal attention for queries at positions start .. start+count-1 (already appended). */
  attendPrefill(
    layer: number,
    q: Float32Array,
    start: number,
    count: number,
  ): MaybePromise<Float32Array>;
  bytes(): CacheBytes;
  /** Drop every token; keeps the configuration. */
  reset(): void;
}
