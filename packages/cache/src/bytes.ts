import type { CacheBytes } from '@skvq/core';

/** Byte counters a cache fills in; total, elements and bitsPerElement are derived. */
export interface ByteParts {
  codes: number;
  metadata: number;
  positions: number;
  window: number;
  sinks: number;
  keptFp: number;
  permutations: number;
  pageSlack: number;
}

export function zeroParts(): ByteParts {
  return {
    codes: 0,
    metadata: 0,
    positions: 0,
    window: 0,
    sinks: 0,
    keptFp: 0,
    permutations: 0,
    pageSlack: 0,
  };
}

/**
 * Completes the accounting. `layerLengths` are the tokens of each layer; elements counts K
 * and V of every layer (tokens * 2 * kvHidden summed over layers), `tokens` is the longest
 * layer (all layers are equal between forward passes).
 */
export function finishBytes(
  parts: ByteParts,
  layerLengths: readonly number[],
  kvHidden: number,
): CacheBytes {
  const total =
    parts.codes +
    parts.metadata +
    parts.positions +
    parts.window +
    parts.sinks +
    parts.keptFp +
    parts.permutations +
    parts.pageSlack;
  let elements = 0;
  let tokens = 0;
  for (const n of layerLengths) {
    elements += n * 2 * kvHidden;
    if (n > tokens) tokens = n;
  }
  return {
    ...parts,
    total,
    tokens,
    elements,
    bitsPerElement: elements === 0 ? Number.NaN : (8 * total) / elements,
  };
}
