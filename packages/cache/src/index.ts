// The public surface of @skvq/cache, listed name by name. Internals (byte counters, codecs,
// checksum, storage classes) stay inside the package.
export {
  CACHE_FORMAT_VERSION,
  CACHE_MAGIC,
  isSavedCache,
  READABLE_FORMAT_VERSIONS,
} from './container.js';
export {
  createDenseCache,
  DEFAULT_DENSE_PAGE_TOKENS,
  DenseCache,
  type DenseCacheOptions,
} from './dense-cache.js';
export { FP_PRECISIONS, type FpPrecision } from './fp-rows.js';
// used by @skvq/adapter-transformers to widen fp16 segments (public before the split)
export type { LayerCounts } from './layer.js';
export { createQuantizedCache, QuantizedCache } from './quantized-cache.js';
export {
  DEFAULT_PAGE_TOKENS,
  DEFAULT_SINKS,
  DEFAULT_WINDOW,
  PREFILL_ATTENTION_MODES,
  type PrefillAttention,
  type QuantizedCacheOptions,
  type StreamSpec,
} from './quantized-options.js';
export { loadCache, saveCache, saveCacheAsync } from './save-load.js';
export {
  readCacheHeader,
  type SavedCacheHeader,
  type SavedCacheInfo,
  type SavedStreamHeader,
} from './saved-header.js';
export type { StreamCounts } from './stream.js';
export type {
  CacheDescription,
  KvCache,
  LayerDescription,
  StreamDescription,
} from './types.js';
