import {
  type FilterRule,
  type PolicyDecision,
  type PolicyOptions,
  type PolicyPlugin,
  SkvqError,
  type TokenPolicy,
} from '@skvq/core';
import { sinkRule } from './sink-rule.js';
import { assertNonNegativeInt } from './validate.js';

export const SLIDING_WINDOW_NAME = 'sliding-window';

/** SKVQ defaults (SKVQ.md section 3): 128 full-precision recent tokens, 5 sinks. */
export const DEFAULT_WINDOW = 128;
export const DEFAULT_SINKS = 5;

/**
 * SKVQ's token policy (SKVQ.md section 3). The last `window` tokens are full precision;
 * tokens leave the window FIFO, one per appended token once it is full, and are then
 * quantized unless a filter rule keeps them (the sink rule for positions < sinks, then the
 * extra rules in order). A prefill is one `admit(0, n)`: everything but the last `window`
 * tokens leaves at once. State is two counters and the rules: indices only, no K/V data.
 */
export function createSlidingWindowPolicy(options: PolicyOptions): TokenPolicy {
  const where = 'sliding-window policy';
  const window = assertNonNegativeInt(options?.window, 'window', where);
  const sinks = assertNonNegativeInt(options.sinks, 'sinks', where);
  const extra: readonly FilterRule[] = options.rules ?? [];
  for (const [i, rule] of extra.entries()) {
    if (typeof rule?.keeps !== 'function') {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `${where}: rules[${i}] is not a filter rule (it needs keeps(position))`,
        { details: { index: i } },
      );
    }
  }
  const rules: readonly FilterRule[] = [sinkRule(sinks), ...extra];
  /** Tokens appended so far (the next admit must start here). */
  let length = 0;
  /** First position still inside the window (everything before it has been decided). */
  let nextLeave = 0;

  return {
    window,
    sinks,
    admit(start: number, count: number): PolicyDecision {
      assertNonNegativeInt(start, 'start', `${where}.admit`);
      assertNonNegativeInt(count, 'count', `${where}.admit`);
      if (start !== length) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `${where}.admit: start ${start} must equal the number of tokens appended so far (${length}); tokens are admitted in order`,
          { details: { start, expected: length } },
        );
      }
      length += count;
      const leaveEnd = Math.max(length - window, nextLeave);
      const quantize: number[] = [];
      const keep: number[] = [];
      for (let p = nextLeave; p < leaveEnd; p++) {
        (rules.some((rule) => rule.keeps(p)) ? keep : quantize).push(p);
      }
      nextLeave = leaveEnd;
      return { quantize: Int32Array.from(quantize), keep: Int32Array.from(keep) };
    },
    observeAttention(sums: Float32Array, len: number): void {
      for (const rule of extra) rule.observeAttention?.(sums, len);
    },
    reset(): void {
      length = 0;
      nextLeave = 0;
      for (const rule of extra) rule.reset?.();
    },
  };
}

/** The policy plugin for the registry: `registry.use(slidingWindowPolicy)`. */
export const slidingWindowPolicy: PolicyPlugin = {
  kind: 'policy',
  name: SLIDING_WINDOW_NAME,
  description:
    'SKVQ sliding window: the last W tokens and the first S sinks stay full precision; filter rules may keep more',
  create: createSlidingWindowPolicy,
};
