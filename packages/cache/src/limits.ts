import { SkvqError } from '@skvq/core';
import { FP_BYTES, type FpPrecision } from './fp-rows.js';
import { POSITION_BYTES } from './positions.js';

/**
 * Limits on cache arguments, derived from the geometry and the storage format, so that a
 * hostile or mistaken option is a typed INVALID_ARGUMENT up front instead of a RangeError,
 * a multi-GB reservation or a multi-second table build later.
 */

/** Positions are stored as Int32Array everywhere (segments, pages, windows). */
export const MAX_POSITION = 0x7fffffff;
/**
 * Bytes a recent window may grow to per layer (a ring of `window` rows of keys and of
 * values): 1 GiB, far past SKVQ's window of 128 on any model.
 */
export const MAX_WINDOW_BYTES_PER_LAYER = 1 << 30;
/** Bytes one page (packed or full precision) may take: 256 MiB. */
export const MAX_PAGE_BYTES = 1 << 28;
/** Largest finite binary16 magnitude; |x| >= 65520 rounds to Infinity. */
export const FP16_MAX = 65504;
const FP16_OVERFLOW = 65520;

function invalid(message: string, details: Record<string, unknown>): never {
  throw new SkvqError('INVALID_ARGUMENT', message, { details });
}

/** Throws INVALID_ARGUMENT unless `position` fits an int32 (attend / attendPrefill). */
export function checkPositionLimit(position: number, where: string): void {
  if (position > MAX_POSITION) {
    invalid(`${where}: position ${position} is past the largest position ${MAX_POSITION} (int32)`, {
      position,
      max: MAX_POSITION,
    });
  }
}

/** The largest window a layer of `channels` channels stored as `precision` may reserve. */
export function maxWindow(channels: number, precision: FpPrecision): number {
  const perToken = 2 * (channels * FP_BYTES[precision] + POSITION_BYTES);
  return Math.min(MAX_POSITION, Math.floor(MAX_WINDOW_BYTES_PER_LAYER / perToken));
}

/** Throws INVALID_ARGUMENT when `window` would reserve more than the per-layer limit. */
export function checkWindowLimit(
  window: number,
  channels: number,
  precision: FpPrecision,
  where: string,
): void {
  const max = maxWindow(channels, precision);
  if (window > max) {
    invalid(
      `${where}: window ${window} is too large for ${channels} channels stored as ${precision}; at most ${max} tokens (a window holds window rows of keys and of values per layer, up to ${MAX_WINDOW_BYTES_PER_LAYER} bytes)`,
      { window, max, channels, precision },
    );
  }
}

/** Throws INVALID_ARGUMENT when `sinks` is past the largest position. */
export function checkSinksLimit(sinks: number, where: string): void {
  if (sinks > MAX_POSITION) {
    invalid(`${where}: sinks ${sinks} is past the largest position ${MAX_POSITION}`, {
      sinks,
      max: MAX_POSITION,
    });
  }
}

/** Throws INVALID_ARGUMENT when one page of `pageTokens` tokens would pass MAX_PAGE_BYTES. */
export function checkPageTokensLimit(
  pageTokens: number,
  bytesPerToken: number,
  where: string,
): void {
  const max = Math.max(1, Math.floor(MAX_PAGE_BYTES / Math.max(1, bytesPerToken)));
  if (pageTokens > max) {
    invalid(
      `${where}: pageTokens ${pageTokens} makes pages of more than ${MAX_PAGE_BYTES} bytes at ${bytesPerToken} bytes per token; at most ${max}`,
      { pageTokens, max, bytesPerToken },
    );
  }
}

/**
 * Refuses (INVALID_ARGUMENT, naming the first index) values an fp16 store would turn into
 * +-Infinity: |x| >= 65520. Chosen over saturation, which would silently change the
 * value (DESIGN.md: never clamp silently); callers check before storing anything.
 */
export function checkFp16Range(a: Float32Array, name: string, where: string): void {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    if (x >= FP16_OVERFLOW || x <= -FP16_OVERFLOW) {
      invalid(
        `${where}: ${name}[${i}] = ${x} is outside the fp16 range +-${FP16_MAX} of this cache; use precision fp32 for such values`,
        { name, index: i, value: x, max: FP16_MAX },
      );
    }
  }
}
