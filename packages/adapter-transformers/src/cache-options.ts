import { cpuBackend } from '@skvq/backend-cpu';
import {
  createDenseCache,
  createQuantizedCache,
  type DenseCacheOptions,
  type FpPrecision,
  type QuantizedCacheOptions,
} from '@skvq/cache';
import {
  type BackendPlugin,
  type CalibrationArtifact,
  geometryDifferences,
  type MetaFormat,
  SkvqError,
} from '@skvq/core';
import { slidingWindowPolicy } from '@skvq/policy-sliding-window';
import { groupClipQuantizer } from '@skvq/quantizer-group-clip';
import { type TransformersDecoderConfig, transformersGeometry } from './geometry.js';
import { SkvqPastKeyValues } from './past-key-values.js';

/** How the conversation's K/V are stored between session runs. */
export type SkvqStorageOptions =
  | {
      /** Full precision, no quantization (fp32 reproduces plain transformers.js exactly). */
      storage: 'fp32' | 'fp16';
      /** Tokens per allocated page (default: the dense cache's, 1024). */
      pageTokens?: number;
      backend?: BackendPlugin;
    }
  | {
      /** SKVQ: keys and values quantized with the artifact's reordering, groups, bits, alpha. */
      storage: 'skvq';
      /** From `calibrateTransformersModel` (or `skvq calibrate --runtime transformers`). */
      calibration: CalibrationArtifact;
      /** Full-precision recent tokens (default 128). */
      window?: number;
      /** Attention-sink tokens kept full precision (default 5). */
      sinks?: number;
      /** Scale/zero storage (default: the artifact's). */
      meta?: MetaFormat;
      /** Storage of sinks and window (default: the cache's, fp16). */
      fpPrecision?: FpPrecision;
      /** Largest packed page (default: the cache's, 256; pages grow to it from 16 tokens). */
      pageTokens?: number;
      backend?: BackendPlugin;
    };

/**
 * The cache options for `config` (a transformers.js model's `config`): pass them to
 * `SkvqPastKeyValues.load` to restore a saved cache. Keys are stored post-RoPE as the model
 * hands them over (`keysPreRope: false`, geometry rope 'none').
 */
export function skvqCacheOptions(
  config: TransformersDecoderConfig | object,
  options: SkvqStorageOptions,
): DenseCacheOptions | QuantizedCacheOptions {
  const geometry = transformersGeometry(config);
  const backend = options.backend ?? cpuBackend;
  if (options.storage === 'fp32' || options.storage === 'fp16') {
    return {
      geometry,
      precision: options.storage,
      backend,
      keysPreRope: false,
      ...(options.pageTokens !== undefined ? { pageTokens: options.pageTokens } : {}),
    };
  }
  if (options.storage !== 'skvq') {
    throw new SkvqError(
      'UNSUPPORTED_OPTION',
      `storage ${String((options as { storage: unknown }).storage)}; expected fp32, fp16, skvq`,
    );
  }
  const calibration = options.calibration;
  const diff = geometryDifferences(geometry, calibration.geometry);
  if (diff.length > 0) {
    throw new SkvqError(
      'CALIBRATION_GEOMETRY_MISMATCH',
      `the calibration does not fit this model (${diff.join('; ')}); calibrate it with calibrateTransformersModel or \`skvq calibrate --runtime transformers\``,
      { details: { differences: diff } },
    );
  }
  const meta = options.meta ?? calibration.settings.meta;
  const stream = (s: 'k' | 'v') => ({
    quantizer: groupClipQuantizer,
    bits: calibration.layers[0]![s].bits,
    meta,
    groupSize: calibration.settings.groupSize,
  });
  return {
    geometry,
    backend,
    keys: stream('k'),
    values: stream('v'),
    policy: slidingWindowPolicy,
    ...(options.window !== undefined ? { window: options.window } : {}),
    ...(options.sinks !== undefined ? { sinks: options.sinks } : {}),
    ...(options.fpPrecision !== undefined ? { fpPrecision: options.fpPrecision } : {}),
    ...(options.pageTokens !== undefined ? { pageTokens: options.pageTokens } : {}),
    calibration,
    keysPreRope: false,
  };
}

/** A fresh, empty `past_key_values` for `generate()` that stores K/V as `options` says. */
export function createSkvqPastKeyValues(
  config: TransformersDecoderConfig | object,
  options: SkvqStorageOptions,
): SkvqPastKeyValues {
  const cacheOptions = skvqCacheOptions(config, options);
  const cache =
    'precision' in cacheOptions
      ? createDenseCache(cacheOptions)
      : createQuantizedCache(cacheOptions);
  return new SkvqPastKeyValues(cache, cacheOptions.backend);
}
