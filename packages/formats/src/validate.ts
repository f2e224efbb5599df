import {
  assertBitWidth,
  assertMetaFormat,
  type ChannelBlockLayout,
  type QuantLayout,
  SkvqError,
  type TokenGroupLayout,
} from '@skvq/core';

/**
 * Layout objects that passed their check. A layout is immutable data (its fields are
 * readonly and nothing in SKVQ writes to its arrays), so it is checked once, when it is first
 * seen (a quantizer's layout(), a cache creating its streams), not again for every page on
 * every attention step: at 32k tokens that re-check was most of a step's validation time
 * (BENCHMARKS.md). Mutating a layout's perm or groupOffsets after use is not supported.
 */
const checkedLayouts = new WeakSet<object>();

function invalid(where: string, message: string, details: Record<string, unknown> = {}): never {
  throw new SkvqError('INVALID_ARGUMENT', `${where}: ${message}`, { details });
}

/** Throws INVALID_ARGUMENT unless alpha is a clip ratio in (0, 1]. */
export function assertAlpha(alpha: unknown, where: string): asserts alpha is number {
  if (typeof alpha !== 'number' || !(alpha > 0 && alpha <= 1)) {
    invalid(where, `alpha ${String(alpha)} is not a clip ratio; expected a number in (0, 1]`, {
      alpha,
    });
  }
}

/** Throws INVALID_ARGUMENT unless n is a positive integer. */
export function assertPositiveInt(n: unknown, name: string, where: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) {
    invalid(where, `${name} ${String(n)} must be a positive integer`, { [name]: n });
  }
}

/**
 * Checks a token-group layout at the edge: kind, channels, bits, metadata format, that perm
 * (if any) is a permutation of 0..channels-1, that groupOffsets go strictly up from 0 to
 * channels, and that 0 < alpha <= 1. Returns the layout.
 */
export function validateTokenGroupLayout(
  layout: TokenGroupLayout,
  where = 'token-group layout',
): TokenGroupLayout {
  if (layout?.kind === 'token-group' && checkedLayouts.has(layout)) return layout;
  if (layout?.kind !== 'token-group') {
    invalid(where, `kind ${String(layout?.kind)} is not supported; expected token-group`);
  }
  const channels = layout.channels;
  assertPositiveInt(channels, 'channels', where);
  assertBitWidth(layout.bits, where);
  assertMetaFormat(layout.meta, where);
  assertAlpha(layout.alpha, where);
  const perm = layout.perm;
  if (perm !== null) {
    if (!(perm instanceof Uint32Array) || perm.length !== channels) {
      invalid(where, `perm must be null or a Uint32Array of ${channels} channel indices`);
    }
    const seen = new Uint8Array(channels);
    for (let j = 0; j < channels; j++) {
      const c = perm[j]!;
      if (c >= channels || seen[c] === 1) {
        invalid(
          where,
          `perm[${j}] = ${c} is not a permutation entry: each of 0..${channels - 1} must appear exactly once`,
          { index: j, value: c },
        );
      }
      seen[c] = 1;
    }
  }
  const offsets = layout.groupOffsets;
  if (
    !(offsets instanceof Uint32Array) ||
    offsets.length < 2 ||
    offsets[0] !== 0 ||
    offsets[offsets.length - 1] !== channels
  ) {
    invalid(
      where,
      `groupOffsets must be a Uint32Array of at least 2 entries from 0 to ${channels} (channels)`,
    );
  }
  for (let g = 1; g < offsets.length; g++) {
    if (offsets[g]! <= offsets[g - 1]!) {
      invalid(where, `groupOffsets must be strictly increasing; entry ${g} is ${offsets[g]}`, {
        index: g,
      });
    }
  }
  checkedLayouts.add(layout);
  return layout;
}

/** Checks a channel-block layout at the edge: kind, channels, blockTokens, bits, metadata format, alpha. */
export function validateChannelBlockLayout(
  layout: ChannelBlockLayout,
  where = 'channel-block layout',
): ChannelBlockLayout {
  if (layout?.kind === 'channel-block' && checkedLayouts.has(layout)) return layout;
  if (layout?.kind !== 'channel-block') {
    invalid(where, `kind ${String(layout?.kind)} is not supported; expected channel-block`);
  }
  assertPositiveInt(layout.channels, 'channels', where);
  assertPositiveInt(layout.blockTokens, 'blockTokens', where);
  assertBitWidth(layout.bits, where);
  assertMetaFormat(layout.meta, where);
  assertAlpha(layout.alpha, where);
  checkedLayouts.add(layout);
  return layout;
}

/**
 * The one check of a layout of either kind (the only place that chooses the validator by
 * kind). Throws INVALID_ARGUMENT naming the allowed kinds for anything else; returns it.
 */
export function validateLayout<L extends QuantLayout>(layout: L, where = 'layout'): L {
  const kind = (layout as { kind?: unknown } | null | undefined)?.kind;
  if (kind === 'token-group') validateTokenGroupLayout(layout as TokenGroupLayout, where);
  else if (kind === 'channel-block')
    validateChannelBlockLayout(layout as ChannelBlockLayout, where);
  else invalid(where, `kind ${String(kind)} is not supported; expected token-group, channel-block`);
  return layout;
}
