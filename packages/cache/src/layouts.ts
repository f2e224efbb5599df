import { type KvStream, kvHidden, type QuantLayout, SkvqError } from '@skvq/core';
import type { QuantizedCacheOptions, StreamSpec } from './quantized-options.js';
import { checkPositiveIntOption } from './validate.js';

const WHERE = 'createQuantizedCache';

/** Throws INVALID_PLUGIN / INVALID_ARGUMENT unless `spec` names a quantizer and a group size. */
export function checkStreamSpec(spec: StreamSpec, name: string): void {
  if (spec === null || typeof spec !== 'object' || spec.quantizer?.kind !== 'quantizer') {
    throw new SkvqError('INVALID_PLUGIN', `${WHERE}: ${name}.quantizer must be a QuantizerPlugin`);
  }
  checkPositiveIntOption(spec.groupSize, `${name}.groupSize`, WHERE);
}

/** The layout the stream's quantizer chooses for `layer`, checked against the cache. */
export function resolveLayout(
  options: QuantizedCacheOptions,
  spec: StreamSpec,
  pageTokens: number,
  layer: number,
  stream: KvStream,
): QuantLayout {
  const { calibration, geometry } = options;
  const channels = kvHidden(geometry);
  const layout = spec.quantizer.layout({
    geometry,
    layer,
    stream,
    bits: spec.bits,
    meta: spec.meta,
    groupSize: spec.groupSize,
    ...(calibration === undefined ? {} : { calibration }),
    ...(spec.alpha === undefined ? {} : { alpha: spec.alpha }),
  });
  if (layout.channels !== channels) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${WHERE}: the ${stream} layout has ${layout.channels} channels; the geometry has kvHidden = ${channels}`,
    );
  }
  if (layout.kind === 'channel-block' && pageTokens % layout.blockTokens !== 0) {
    throw new SkvqError(
      'UNSUPPORTED_OPTION',
      `${WHERE}: pageTokens ${pageTokens} must be a multiple of the ${stream} stream's block of ${layout.blockTokens} tokens`,
      { details: { pageTokens, blockTokens: layout.blockTokens } },
    );
  }
  return layout;
}

/** Per-layer channel permutation (Uint32 per channel) and group offsets (Uint32 each). */
export function permutationBytes(layout: QuantLayout): number {
  if (layout.kind !== 'token-group') return 0;
  return (layout.perm === null ? 0 : 4 * layout.perm.length) + 4 * layout.groupOffsets.length;
}
