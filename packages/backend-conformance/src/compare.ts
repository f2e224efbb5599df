/**
 * Default tolerance of attention outputs against the reference: the largest absolute
 * difference divided by the largest absolute reference value. Float32 scores over head
 * dims up to 128 and ~1000 positions stay near 1e-6; 1e-4 leaves room for GPU fast-math
 * exp, fused multiply-add and other summation orders while still catching any real bug
 * (a wrong position, channel or scale moves outputs by far more than 1e-2).
 */
export const ATTENTION_RELATIVE_TOLERANCE = 1e-4;

/** max |a - b| / max |b| (b is the reference); 0 when both are all zeros. */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    const d = Math.abs((actual[i] as number) - e);
    if (!(d <= diff)) diff = d; // NaN propagates as a failure
    if (Math.abs(e) > scale) scale = Math.abs(e);
  }
  if (scale === 0) return diff;
  return diff / scale;
}

/** Index of the first differing byte/element, or -1 when identical (lengths included). */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (!Object.is(a[i], b[i])) return i;
  return a.length === b.length ? -1 : n;
}
