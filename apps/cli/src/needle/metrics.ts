/**
 * The needle test's measures, as plain functions over what the fused kernel returned.
 *
 * The kernel reports attention per position averaged over query heads (the cache feeds it
 * to filter rules through observeAttention). A cell's query is zero in every head but its
 * own, and a zero query gives exactly uniform weights 1/N, so its own head's weights are
 * recovered exactly: p[t] = H * sums[t] - (H - 1) / N.
 */

export interface NeedleMeasure {
  /** (a) the needle has strictly the largest attention weight of its head. */
  top: boolean;
  /** (b) the needle's attention weight (its share of the head's attention). */
  share: number;
  /** Largest weight of any other position, and where. */
  runnerUp: number;
  runnerUpPosition: number;
}

/** One head's attention weights from the head-averaged sums of a single-head query. */
export function headWeights(sums: Float32Array, length: number, queryHeads: number): Float64Array {
  const out = new Float64Array(length);
  const uniform = (queryHeads - 1) / length;
  for (let t = 0; t < length; t++) out[t] = queryHeads * (sums[t] as number) - uniform;
  return out;
}

/** (a) and (b) from one head's weights and the needle position. */
export function measureNeedle(weights: ArrayLike<number>, needle: number): NeedleMeasure {
  let runnerUp = Number.NEGATIVE_INFINITY;
  let runnerUpPosition = -1;
  for (let t = 0; t < weights.length; t++) {
    if (t === needle) continue;
    const w = weights[t] as number;
    if (w > runnerUp) {
      runnerUp = w;
      runnerUpPosition = t;
    }
  }
  const share = weights[needle] as number;
  return { top: share > runnerUp, share, runnerUp, runnerUpPosition };
}

/** (c) ||out - ref|| / ||ref|| (Euclidean). */
export function relativeError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i] as number;
    num += ((out[i] as number) - r) ** 2;
    den += r * r;
  }
  return Math.sqrt(num / den);
}

/** Worst element-wise error relative to the largest |ref| (a stricter numerics measure). */
export function maxRelativeError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    worst = Math.max(worst, Math.abs((out[i] as number) - (ref[i] as number)));
    scale = Math.max(scale, Math.abs(ref[i] as number));
  }
  return worst / scale;
}
