import type { KvSegment } from '@skvq/core';

/**
 * What a kernel returns for a subset of the cached tokens when the threaded backend splits
 * a decode step (split-K): threads/merge.ts combines the parts of disjoint subsets exactly.
 */

/** A decode step's softmax before normalisation: per head max, sum of exp(s - max), acc. */
export interface DecodeParts {
  max: Float64Array;
  sums: Float64Array;
  /** [queryHeads * headDim]: sum over positions of exp(s - max) * value. */
  acc: Float64Array;
  /**
   * When asked for (attentionSums): exp(s - max) of positions scoresFrom, scoresFrom + 1, ..
   * as [position][queryHeads]; positions the subset does not hold are ~0 (<= 1e-37).
   */
  scores?: Float32Array;
  scoresFrom?: number;
}

/** Smallest and largest position of a (non-empty) subset's segments. */
export function positionSpan(segments: readonly KvSegment[], length: number): [number, number] {
  let lo = length;
  let hi = -1;
  for (const seg of segments) {
    for (let i = 0; i < seg.count; i++) {
      const p = seg.positions[i] as number;
      if (p < lo) lo = p;
      if (p > hi) hi = p;
    }
  }
  return hi < 0 ? [0, 0] : [lo, hi];
}
