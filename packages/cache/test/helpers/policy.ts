// A minimal FIFO sliding-window policy written from the TokenPolicy contract, so the
// cache is tested independently of @skvq/policy-sliding-window (also tested below).
import type { FilterRule, PolicyDecision, TokenPolicy } from '@skvq/core';

export function fifoPolicy(
  window: number,
  sinks: number,
  rules: readonly FilterRule[] = [],
): TokenPolicy & {
  sums: Float32Array[];
} {
  let left = 0; // positions below `left` have left the window
  const sums: Float32Array[] = [];
  return {
    window,
    sinks,
    sums,
    admit(start: number, count: number): PolicyDecision {
      const end = start + count;
      const leaveEnd = end - Math.min(window, end);
      const quantize: number[] = [];
      const keep: number[] = [];
      for (let p = left; p < leaveEnd; p++) {
        if (p < sinks || rules.some((r) => r.keeps(p))) keep.push(p);
        else quantize.push(p);
      }
      left = Math.max(left, leaveEnd);
      return { quantize: Int32Array.from(quantize), keep: Int32Array.from(keep) };
    },
    observeAttention(s: Float32Array, length: number) {
      sums.push(s.slice(0, length));
    },
    reset() {
      left = 0;
      sums.length = 0;
    },
  };
}
