import type { KvCache } from '@skvq/cache';

/** One cache's bytes split into what grows with context and what does not. */
export interface BitsSplit {
  /** Codes + scales/zeros of the quantized tokens (dense caches: every token's values). */
  codesMetaBytes: number;
  /** K/V elements those bytes hold (quantized tokens x channels, both streams, all layers). */
  codesMetaElements: number;
  /**
   * Everything else: full-precision window and sinks, KIVI's pending block, positions
   * (`bytes().positions`), permutations and page slack; bounded as the context grows.
   */
  overheadBytes: number;
  /** All K/V elements held. */
  elements: number;
}

/**
 * Splits a cache's real bytes (SKVQ.md section 7: compare methods on codes+metadata bits,
 * report the fixed overhead beside it). A dense cache's values are its "codes": 16 or 32 bits
 * per element grow with the context like a quantized cache's codes.
 */
export function splitBits(cache: KvCache): BitsSplit {
  const description = cache.describe();
  const b = description.bytes;
  const channels = description.geometry.kvHeads * description.geometry.headDim;
  if (description.kind === 'dense') {
    const bytesPerElement = description.fpPrecision === 'fp32' ? 4 : 2;
    const codesMetaBytes = b.elements * bytesPerElement;
    return {
      codesMetaBytes,
      codesMetaElements: b.elements,
      overheadBytes: b.total - codesMetaBytes,
      elements: b.elements,
    };
  }
  let quantized = 0;
  for (const l of description.layers) quantized += (l.quantized.k + l.quantized.v) * channels;
  const codesMetaBytes = b.codes + b.metadata;
  return {
    codesMetaBytes,
    codesMetaElements: quantized,
    overheadBytes: b.total - codesMetaBytes,
    elements: b.elements,
  };
}
