import type {
  BackendPlugin,
  BitWidth,
  CalibrationArtifact,
  FilterRule,
  KvGeometry,
  MetaFormat,
  PolicyPlugin,
  QuantizerPlugin,
  TokenPolicy,
} from '@skvq/core';
import type { FpPrecision } from './fp-rows.js';

/** How one stream (keys or values) is quantized. */
export interface StreamSpec {
  quantizer: QuantizerPlugin;
  bits: BitWidth;
  meta: MetaFormat;
  /** Nominal channels per group (ignored by channel-block layouts). */
  groupSize: number;
  /** Overrides the calibrated clip ratio. */
  alpha?: number;
}

export type PrefillAttention = 'quantized' | 'original';
export const PREFILL_ATTENTION_MODES: readonly PrefillAttention[] = ['quantized', 'original'];

export interface QuantizedCacheOptions {
  geometry: KvGeometry;
  backend: BackendPlugin;
  keys: StreamSpec;
  values: StreamSpec;
  /** A policy plugin (created once per layer with window/sinks/rules) or a per-layer factory. */
  policy: PolicyPlugin | ((layer: number) => TokenPolicy);
  /** Full-precision recent tokens (SKVQ default 128); only with a policy plugin. */
  window?: number;
  /** Attention-sink tokens never quantized (SKVQ default 5); only with a policy plugin. */
  sinks?: number;
  /** Extra filter rules; a function gives each layer its own (stateful rules). */
  rules?: readonly FilterRule[] | ((layer: number) => readonly FilterRule[]);
  calibration?: CalibrationArtifact;
  /** Default: true unless the key quantizer wants keys after RoPE (keyRope 'post', KIVI). */
  keysPreRope?: boolean;
  /**
   * 'quantized' (default): a prefill's own attention sees tokens quantized as they leave the
   * window; 'original': the last appended chunk is attended at full precision by
   * attendPrefill, later reads see it quantized.
   */
  prefillAttention?: PrefillAttention;
  /**
   * Storage of window, sinks, kept and pending tokens: 'fp16' (default, binary16 bits; the
   * kernels widen to float32) or 'fp32'.
   */
  fpPrecision?: FpPrecision;
  /**
   * Largest packed page in tokens (default 256; a multiple of the block for channel-block
   * streams). Pages start at 16 tokens and grow to at most an eighth of what the stream
   * holds, up to this size: the unused end of the last page stays below
   * max(16, held / 8) tokens and below pageTokens.
   */
  pageTokens?: number;
}

/** SKVQ.md section 3: window 128, 4 + 1 sinks = 5. */
export const DEFAULT_WINDOW = 128;
export const DEFAULT_SINKS = 5;
/** Largest packed page: 256 tokens keeps allocations rare at long contexts. */
export const DEFAULT_PAGE_TOKENS = 256;
/**
 * Pages of the full-precision kept tokens: the first one holds exactly the sinks, later
 * ones (tokens other rules keep) grow from 8 to 32 tokens.
 */
export const KEPT_MIN_PAGE_TOKENS = 8;
export const KEPT_PAGE_TOKENS = 32;
