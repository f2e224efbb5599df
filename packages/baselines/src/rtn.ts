import {
  type BitWidth,
  contiguousGroupOffsets,
  type QuantizerContext,
  type QuantizerPlugin,
  type TokenGroupLayout,
} from '@skvq/core';
import { checkContext } from './context.js';

const RTN_BITS: readonly BitWidth[] = [8, 4, 3, 2, 1.5];

/**
 * Round-to-nearest per token (SKVQ.md section 6): asymmetric min/max per token per contiguous
 * group of groupSize channels, no reordering, no clipping (alpha 1; context.alpha overrides
 * it for ablations such as "clip without reorder"). Keys and values alike.
 */
function rtnLayout(context: QuantizerContext): TokenGroupLayout {
  const channels = checkContext(context, 'quantizer "rtn"', RTN_BITS);
  return {
    kind: 'token-group',
    channels,
    bits: context.bits,
    meta: context.meta,
    perm: null,
    groupOffsets: contiguousGroupOffsets(channels, context.groupSize),
    alpha: context.alpha ?? 1,
  };
}

export const rtnQuantizer: QuantizerPlugin = Object.freeze({
  kind: 'quantizer' as const,
  name: 'rtn',
  description: 'round-to-nearest per token over contiguous channel groups (no reorder, no clip)',
  supportedBits: RTN_BITS,
  requiresCalibration: false,
  keyRope: 'any' as const,
  layout: rtnLayout,
});
