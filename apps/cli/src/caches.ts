import type { LlamaModel } from '@skvq/adapter-llama';
import { createDenseCache, createQuantizedCache, type KvCache, type StreamSpec } from '@skvq/cache';
import type { BackendPlugin, CalibrationArtifact, MetaFormat, Registry } from '@skvq/core';
import type { MethodSpec } from './methods.js';

/** Settings shared by every method of one evaluation configuration. */
export interface CacheConfig {
  window: number;
  sinks: number;
  groupSize: number;
  meta: MetaFormat;
  /** Storage of full-precision tokens (window, sinks, KIVI's residual) in quantized caches. */
  fpPrecision: 'fp32' | 'fp16';
  /** 'quantized' (the paper's perplexity protocol) or 'original'. */
  prefillAttention: 'quantized' | 'original';
  /**
   * Tokens per cache page (default: the cache's own, 256 quantized / 1024 dense). Evaluation
   * on ~200-token stories uses EVAL_PAGE_TOKENS so that allocation slack stays small.
   */
  pageTokens?: number;
}

/** Page size for evaluation: a multiple of KIVI's 32-token key block, small next to a story. */
export const EVAL_PAGE_TOKENS = 32;

/**
 * A factory of fresh caches for one method (one per story / prompt). Quantized caches are
 * assembled from the registry: quantizer plugins by name, the sliding-window policy, and
 * the given backend. `calibration` is required when a stream uses skvq.
 */
export function cacheFactory(
  registry: Registry,
  backend: BackendPlugin,
  model: LlamaModel,
  spec: MethodSpec,
  config: CacheConfig,
  calibration: CalibrationArtifact | undefined,
): () => KvCache {
  const geometry = model.geometry;
  if (spec.kind === 'dense') {
    const pages = config.pageTokens ? { pageTokens: config.pageTokens } : {};
    return () => createDenseCache({ geometry, precision: spec.precision, backend, ...pages });
  }
  const stream = (s: { method: string; bits: StreamSpec['bits'] }): StreamSpec => ({
    quantizer: registry.get('quantizer', s.method),
    bits: s.bits,
    meta: config.meta,
    groupSize: config.groupSize,
    ...(spec.noClip && s.method === 'skvq' ? { alpha: 1 } : {}),
  });
  const keys = stream(spec.keys);
  const values = stream(spec.values);
  const policy = registry.get('policy', 'sliding-window');
  return () =>
    createQuantizedCache({
      geometry,
      backend,
      keys,
      values,
      policy,
      window: config.window,
      sinks: config.sinks,
      ...(calibration ? { calibration } : {}),
      fpPrecision: config.fpPrecision,
      prefillAttention: config.prefillAttention,
      ...(spec.postRope ? { keysPreRope: false } : {}),
      ...(config.pageTokens ? { pageTokens: config.pageTokens } : {}),
    });
}
