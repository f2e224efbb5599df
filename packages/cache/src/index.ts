export { type ByteParts, finishBytes } from './bytes.js';
export {
  CACHE_FORMAT_VERSION,
  CACHE_MAGIC,
  isSavedCache,
  READABLE_FORMAT_VERSIONS,
} from './container.js';
export { crc32 } from './crc32.js';
export {
  createDenseCache,
  DEFAULT_DENSE_PAGE_TOKENS,
  DenseCache,
  type DenseCacheOptions,
  rotateKeys,
} from './dense-cache.js';
export { FP_BYTES, FP_PRECISIONS, type FpPrecision, POSITION_BYTES } from './fp-rows.js';
export { f16BitsToF32, f32ToF16Bits } from './fp16.js';
export type { LayerCounts } from './layer.js';
export { createQuantizedCache, permutationBytes, QuantizedCache } from './quantized-cache.js';
export {
  DEFAULT_PAGE_TOKENS,
  DEFAULT_SINKS,
  DEFAULT_WINDOW,
  KEPT_PAGE_TOKENS,
  PREFILL_ATTENTION_MODES,
  type PrefillAttention,
  type QuantizedCacheOptions,
  type StreamSpec,
} from './quantized-options.js';
export { loadCache, saveCache } from './save-load.js';
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
