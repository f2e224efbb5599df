import { type MetaFormat, maxQ, type QuantLayout } from '@skvq/core';

/**
 * Which tokens leaving the window the metadata format can quantize (issue 13 item 2).
 *
 * A quantized group stores `zero ~ alpha * min` and `scale ~ (alpha * (max - min)) / maxq`
 * in the layout's metadata format (core layout contract), and the quantizer refuses a value
 * beyond the format's largest finite one (fp8 E4M3 448, fp16 65504). A finite outlier
 * token (real activations have them) must neither break the cache later nor be stored
 * wrong, so by design such a token is KEPT at full precision for good (the same kept rows
 * filter rules use) instead of being quantized: the cache stays usable and exact for it.
 * The test is per token, on its largest magnitude, with a margin for the directed rounding
 * of zero and scale (at most 1/8 relative for fp8 E4M3's 3 mantissa bits): conservative,
 * so a token it accepts never makes the quantizer throw.
 */

/** Largest finite value of each metadata format. */
const META_MAX: Readonly<Record<MetaFormat, number>> = {
  fp32: 3.4028234663852886e38,
  fp16: 65504,
  fp8e4m3: 448,
};
/** Covers the directed rounding of zero and scale to the format (<= 1/8 relative). */
const ROUNDING_MARGIN = 1.25;

/**
 * The largest |x| a token may hold and still be quantized with `layout`:
 * |zero| <= alpha * M * margin and scale <= alpha * 2M * margin / maxq must both fit.
 */
export function quantizableMagnitude(layout: QuantLayout): number {
  const spread = Math.max(1, 2 / maxQ(layout.bits));
  return META_MAX[layout.meta] / (ROUNDING_MARGIN * ROUNDING_MARGIN * layout.alpha * spread);
}

/** Whether the `count` rows of `x` (`channels` wide) each stay within `limit`. */
export function rowsWithin(
  x: Float32Array,
  count: number,
  channels: number,
  limit: number,
): boolean[] {
  const out = new Array<boolean>(count);
  for (let t = 0; t < count; t++) {
    let ok = true;
    for (let c = t * channels, end = c + channels; c < end; c++) {
      const a = x[c]!;
      if (a > limit || a < -limit) {
        ok = false;
        break;
      }
    }
    out[t] = ok;
  }
  return out;
}
