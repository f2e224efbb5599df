import {
  type BitWidth,
  type ChannelBlockLayout,
  contiguousGroupOffsets,
  type QuantizerContext,
  type QuantizerPlugin,
  type QuantLayout,
} from '@skvq/core';
import { KIVI_BLOCK_TOKENS } from './constants.js';
import { checkContext } from './context.js';

/**
 * KIVI evaluates 2 and 4 bits; the other widths use the same packed formats and formula,
 * so they are allowed too (8 as a near-lossless check, 3 and ternary for comparisons).
 */
const KIVI_BITS: readonly BitWidth[] = [8, 4, 3, 2, 1.5];

/**
 * KIVI (arXiv 2402.02750): keys per channel over blocks of KIVI_BLOCK_TOKENS consecutive
 * tokens (post-RoPE, quantized a block at a time once the residual of KIVI_RESIDUAL_TOKENS
 * fills: the cache's job), values per token over contiguous groups of groupSize channels.
 * No calibration; alpha 1 unless context.alpha overrides it.
 */
function kiviLayout(context: QuantizerContext): QuantLayout {
  const channels = checkContext(context, 'quantizer "kivi"', KIVI_BITS);
  const alpha = context.alpha ?? 1;
  if (context.stream === 'k') {
    const keys: ChannelBlockLayout = {
      kind: 'channel-block',
      channels,
      bits: context.bits,
      meta: context.meta,
      blockTokens: KIVI_BLOCK_TOKENS,
      alpha,
    };
    return keys;
  }
  return {
    kind: 'token-group',
    channels,
    bits: context.bits,
    meta: context.meta,
    perm: null,
    groupOffsets: contiguousGroupOffsets(channels, context.groupSize),
    alpha,
  };
}

export const kiviQuantizer: QuantizerPlugin = Object.freeze({
  kind: 'quantizer' as const,
  name: 'kivi',
  description: 'KIVI: keys per channel over 32-token blocks (post-RoPE), values per token',
  supportedBits: KIVI_BITS,
  requiresCalibration: false,
  keyRope: 'post' as const,
  layout: kiviLayout,
});
