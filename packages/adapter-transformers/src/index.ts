export {
  createSkvqPastKeyValues,
  type SkvqStorageOptions,
  skvqCacheOptions,
} from './cache-options.js';
export {
  calibrateTransformersModel,
  DEFAULT_TRANSFORMERS_CALIBRATION_TOKENS,
  keysAsQueries,
  type TransformersCalibrationOptions,
  type TransformersCausalLM,
} from './calibrate.js';
export { type TransformersDecoderConfig, transformersGeometry } from './geometry.js';
export { type RunTensorBytes, SkvqPastKeyValues } from './past-key-values.js';
export { readLayer, readLayerAsync, type StoredCache, tokenRows } from './read-cache.js';
