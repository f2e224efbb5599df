import type { FilterRule } from '@skvq/core';
import { assertNonNegativeInt } from './validate.js';

export const SINK_RULE_NAME = 'sinks';

/**
 * The rule SKVQ always applies (SKVQ.md section 3): the first `sinks` positions
 * ("attention sinks") are never quantized.
 */
export function sinkRule(sinks: number): FilterRule {
  assertNonNegativeInt(sinks, 'sinks', 'sinkRule');
  return { name: SINK_RULE_NAME, keeps: (position) => position < sinks };
}
