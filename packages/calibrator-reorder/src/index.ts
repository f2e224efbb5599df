export {
  type AttentionSegment,
  attentionOutputError,
  type CacheObjective,
  cacheAttention,
  causalAttention,
  ropeRows,
} from './attention.js';
export { type ChannelStatistics, ChannelStats, createChannelStats } from './channel-stats.js';
export {
  type ClipSearchInput,
  type ClipSearchResult,
  checkAlphaGrid,
  checkObjective,
  DEFAULT_ALPHA_GRID,
  quantizeRoundTrip,
  searchClipRatio,
} from './clip-search.js';
export { type ChannelGroups, clusterCount, type Grouping, groupChannels } from './grouping.js';
export {
  DEFAULT_KMEANS_MAX_ITERATIONS,
  DEFAULT_KMEANS_RESTARTS,
  DEFAULT_KMEANS_SEED,
  type KMeansOptions,
  type KMeansResult,
  kmeans2d,
} from './kmeans.js';
export {
  createReorderSession,
  DEFAULT_SAMPLE_TOKENS,
  REORDER_CALIBRATOR_NAME,
  type ReorderCalibratorOptions,
  reorderCalibrator,
} from './session.js';
