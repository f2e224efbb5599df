import type { AttentionCache, CacheBytes, KvGeometry } from '@skvq/core';

/** Token counts of one layer, for `skvq inspect` and tests. */
export interface LayerDescription {
  layer: number;
  /** Tokens held (length(layer)). */
  tokens: number;
  /** Full-precision attention sinks (kept because of the sink rule). */
  sinks: number;
  /** Full-precision recent-window tokens. */
  window: number;
  /** Quantized tokens per stream (K and V may differ: KIVI keys wait for whole blocks). */
  quantized: { k: number; v: number };
  /** Full-precision tokens kept for good by other filter rules (or every token of a dense cache). */
  kept: number;
  /** Full-precision tokens waiting for a whole block (channel-block streams), per stream. */
  pending: { k: number; v: number };
  /** Allocated quantized pages per stream. */
  pages: { k: number; v: number };
}

export interface StreamDescription {
  quantizer: string;
  bits: number;
  meta: string;
  layout: 'token-group' | 'channel-block';
  groupSize: number;
}

export interface CacheDescription {
  kind: 'dense' | 'quantized';
  geometry: KvGeometry;
  keysPreRope: boolean;
  /** Precision of full-precision tokens. */
  fpPrecision: 'fp32' | 'fp16';
  /** Quantized caches: how each stream is quantized. */
  streams?: { k: StreamDescription; v: StreamDescription };
  layers: LayerDescription[];
  bytes: CacheBytes;
}

/** The cache surface: AttentionCache (what adapters use) plus introspection. */
export interface KvCache extends AttentionCache {
  readonly kind: 'dense' | 'quantized';
  /** True when keys are stored before RoPE (RoPE applied inside the attention kernel). */
  readonly keysPreRope: boolean;
  describe(): CacheDescription;
}
