import type { AttentionCache, CalibrationBatch, KvGeometry, ModelIdentity } from '@skvq/core';
import type { Tokenizer } from './tokenizer.js';
import type { LlamaConfig, LlamaWeights } from './weights.js';

/** Where a model was loaded from. */
export type LlamaFormat = 'llama2c' | 'gguf';

export interface ForwardOptions {
  /**
   * Calibration capture: called per layer with the chunk's pre-RoPE q and k and v (before
   * they reach the cache), so a calibrator can stream samples while text runs through.
   */
  onActivations?: (batch: CalibrationBatch) => void;
  /** Which positions of the chunk need logits: 'last' (default) or 'all'. */
  logits?: 'last' | 'all' | 'none';
}

/** A loaded Llama-architecture model: weights in fp32, geometry, identity, tokenizer. */
export interface LlamaModel {
  readonly format: LlamaFormat;
  readonly config: LlamaConfig;
  readonly weights: LlamaWeights;
  /** KV geometry for caches: rope 'pairwise', theta from the file or 10000. */
  readonly geometry: KvGeometry;
  /** For calibration artifacts: { name, fingerprint: "sha256:<hex of the weight file>" }. */
  readonly identity: ModelIdentity;
  /** From the GGUF metadata, or attached with a llama2.c tokenizer.bin; undefined otherwise. */
  readonly tokenizer: Tokenizer | undefined;
  /**
   * Runs `tokens` at positions cache.length(0) .. through every layer: appends their K/V
   * to `cache`, attends through it, returns logits [rows, vocab] for the rows asked for.
   */
  forward(
    tokens: ArrayLike<number>,
    cache: AttentionCache,
    options?: ForwardOptions,
  ): Promise<Float32Array>;
}
